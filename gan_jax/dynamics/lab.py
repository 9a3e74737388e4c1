"""The dynamics lab entry point (absl + ml_collections, thin).

  python -m gan_jax.dynamics.lab --config=experiments/dirac_gan.py --workdir=DIR

Labs (`config.lab`):
  dynamics        verdicts for every configured Dirac-GAN method
                  (`analysis.verdict`) in the Dirac case and in the a.c. case
                  (p_data = N(0, s^2), p_theta = N(theta, s^2), s =
                  `config.data_std`), written as `DIR/verdicts.md` (markdown
                  table, both cases side by side) and `DIR/verdicts.json`
                  (one object per method: the Dirac-case keys method,
                  eigenvalues, continuous, spectral_radius, discrete,
                  simulated_distance, converges, paper_converges, then
                  data_std and the a.c. ones ac_eigenvalues, ac_continuous,
                  ac_spectral_radius, ac_discrete, ac_simulated_distance,
                  ac_converges, paper_ac_converges), and the streamplot figure
                  `DIR/dirac_gan.png` (Dirac case).
  parallel_lines  the WGAN paper's parallel lines (`parallel_lines`): the
                  divergences against theta and the gradient each trained D
                  gives G, as `DIR/parallel_lines.png` and `.json`.
The 2-D mode-coverage follow-up is ordinary training (`experiments/toy_modes.py`
through `launch.py` or the report), not part of the lab.
Overrides go on the command line (`--config.gamma=1.0`); the config is locked.
"""

from __future__ import annotations

import json
import os

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags
import numpy as np

from gan_jax.dynamics import analysis
from gan_jax.dynamics import dirac
from gan_jax.dynamics import parallel_lines
from gan_jax.dynamics import plots

LABS = ("dynamics", "parallel_lines")


def hparams_from_config(config: ml_collections.ConfigDict, *,
                        absolutely_continuous: bool = False) -> dirac.Hparams:
  """The Dirac-GAN hyperparameters named in the lab config.

  Args:
    config: the lab config.
    absolutely_continuous: the a.c. case (data_std = `config.data_std`)
      instead of the Dirac case (data_std = 0).

  Raises:
    ValueError: the a.c. case with `config.data_std` <= 0.
  """
  data_std = 0.0
  if absolutely_continuous:
    data_std = float(config.data_std)
    if data_std <= 0:
      raise ValueError(f"config.data_std must be > 0 for the a.c. case, got {data_std}")
  return dirac.Hparams(gamma=config.gamma, noise_std=config.noise_std,
                       clip=config.clip, num_quadrature=config.num_quadrature,
                       data_std=data_std)


def _eigenvalue_pairs(eigenvalues) -> list[list[float]]:
  return [[e.real, e.imag] for e in eigenvalues]


def run_dynamics(config: ml_collections.ConfigDict, workdir: str
                 ) -> tuple[list[analysis.Verdict], list[analysis.Verdict]]:
  """Verdicts, table and figure for `config.methods`.

  Returns:
    (Dirac-case verdicts, a.c.-case verdicts), one per method each.
  """
  os.makedirs(workdir, exist_ok=True)
  hparams = hparams_from_config(config)
  grid = dirac.initial_grid(low=config.grid.low, high=config.grid.high,
                            num=config.grid.num)
  def verdicts_for(case: dirac.Hparams) -> list[analysis.Verdict]:
    return [analysis.verdict(name, hparams=case, lr=config.lr, steps=config.steps,
                             mode=config.mode, grid=grid, sim_tol=config.sim_tol)
            for name in config.methods]
  verdicts = verdicts_for(hparams)
  ac_verdicts = verdicts_for(hparams_from_config(config, absolutely_continuous=True))
  table = analysis.verdict_table(verdicts, lr=config.lr, mode=config.mode,
                                 steps=config.steps, ac_verdicts=ac_verdicts)
  with open(os.path.join(workdir, "verdicts.md"), "w") as f:
    f.write(table)
  with open(os.path.join(workdir, "verdicts.json"), "w") as f:
    json.dump([dict(method=v.method, eigenvalues=_eigenvalue_pairs(v.eigenvalues),
                    continuous=v.continuous, spectral_radius=v.spectral_radius,
                    discrete=v.discrete, simulated_distance=v.simulated_distance,
                    converges=v.converges, paper_converges=v.paper_converges,
                    data_std=a.data_std, ac_eigenvalues=_eigenvalue_pairs(a.eigenvalues),
                    ac_continuous=a.continuous, ac_spectral_radius=a.spectral_radius,
                    ac_discrete=a.discrete, ac_simulated_distance=a.simulated_distance,
                    ac_converges=a.converges, paper_ac_converges=a.paper_converges)
               for v, a in zip(verdicts, ac_verdicts)], f, indent=2)
  logging.info("Verdicts:\n%s", table)
  plots.save_dirac_figure(
      os.path.join(workdir, "dirac_gan.png"), methods=config.methods,
      hparams=hparams, inits=np.asarray(config.plot.inits, np.float32),
      lr=config.lr, steps=config.plot.steps, mode=config.mode,
      limit=config.plot.limit, verdicts={v.method: v for v in verdicts},
      bilinear=config.plot.bilinear.to_dict() if config.plot.bilinear else None)
  return verdicts, ac_verdicts


def run_parallel_lines(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The parallel-lines figure and its numbers; returns what the json holds."""
  os.makedirs(workdir, exist_ok=True)
  c = config.parallel_lines
  thetas = np.linspace(-c.theta_max, c.theta_max, c.num_thetas)
  gradients = {}
  for critic in parallel_lines.CRITICS:
    logging.info("parallel lines: training %s at %d thetas (%d steps each)", critic.label,
                 len(thetas), c.steps)
    gradients[critic.label] = parallel_lines.trained_gradients(
        critic, thetas, steps=c.steps, batch_size=c.batch_size, hidden=tuple(c.hidden),
        seed=c.seed)
  parallel_lines.save_figure(os.path.join(workdir, "parallel_lines.png"), thetas, gradients,
                             steps=c.steps)
  out = dict(thetas=thetas.tolist(), steps=c.steps,
             divergences=[parallel_lines.divergences(t) for t in thetas],
             gradients={k: v.tolist() for k, v in gradients.items()})
  with open(os.path.join(workdir, "parallel_lines.json"), "w") as f:
    json.dump(out, f, indent=1, allow_nan=True)
  return out


def run(config: ml_collections.ConfigDict, workdir: str):
  """Dispatches on `config.lab` (see LABS)."""
  if config.lab == "dynamics":
    return run_dynamics(config, workdir)
  if config.lab == "parallel_lines":
    return run_parallel_lines(config, workdir)
  raise ValueError(f"Unknown lab {config.lab!r}; valid choices: {', '.join(LABS)}")


def define_flags() -> None:
  """Defines --config and --workdir (only when run as a program, so that
  importing this module next to `launch.py` defines no duplicate flags)."""
  config_flags.DEFINE_config_file(
      "config", None, "Lab config file (experiments/dirac_gan.py).",
      lock_config=True)
  flags.DEFINE_string("workdir", None, "Output folder.")
  flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected command-line arguments: {argv[1:]}")
  run(flags.FLAGS.config, flags.FLAGS.workdir)


def run_program() -> None:
  """The `gan-jax-lab` entry point."""
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run_program()
