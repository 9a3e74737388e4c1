"""Dirac-GAN dynamics lab (Mescheder, Geiger & Nowozin 2018).

  python -m gan_jax.dynamics.lab --config=experiments/dirac_gan.py --workdir=DIR
  python -m gan_jax.dynamics.lab --config=experiments/dirac_gan.py:modes --workdir=DIR

Args (after the colon):
  dynamics (default)  verdict table + one streamplot panel per method.
  modes               2-D follow-up: non-saturating vs R1 (gamma 1) on ring and
                      grid, toy_ring's MLP GAN with Adam(5e-4), 2,000 steps,
                      covered modes counted (~2.5 minutes on 2 CPU cores).
  runlocal            dynamics on 2 methods, a tiny grid and few steps (tests).
  modes_runlocal      modes with a few training steps on the ring (tests).

One `gamma` serves every regularizer (penalty weight with the step's gamma/2
convention for r1 / r2 / gp_roth, consensus gamma); `noise_std` is the
instance-noise sigma and `clip` the WGAN clipping bound. With gamma = 0.5 the
R1 / R2 eigenvalues are -1/4 +- 0.433i (underdamped spirals; critical damping
is gamma = 1 for f'(0) = 1/2).
"""

from __future__ import annotations

import ml_collections

from experiments import toy_ring

ALL_METHODS = ("minimax", "non_saturating", "wgan", "wgan_gp", "dragan",
               "instance_noise", "consensus", "gp_roth", "zero_centered",
               "r1", "r2")
ARGS = ("dynamics", "modes", "runlocal", "modes_runlocal")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The lab config for `arg` (see the module docstring)."""
  arg = arg or "dynamics"
  if arg not in ARGS:
    raise ValueError(f"Unknown dirac_gan config arg {arg!r}; valid choices: "
                     f"{', '.join(ARGS)}")
  config = ml_collections.ConfigDict()
  config.lab = "modes" if arg.startswith("modes") else "dynamics"

  # Dirac-GAN dynamics.
  config.methods = ALL_METHODS
  config.gamma = 0.5
  config.noise_std = 1.0
  config.clip = 1.0
  config.num_quadrature = 20
  config.lr = 0.1
  config.steps = 2000               # simulated updates per initial point
  config.mode = "alternating"       # simultaneous | alternating (D first)
  config.grid = ml_collections.ConfigDict(dict(low=-2.0, high=2.0, num=9))
  config.sim_tol = 1e-2             # final distance counted as converged
  config.plot = ml_collections.ConfigDict(dict(
      limit=2.5,
      inits=((1.5, 1.5), (-0.5, 0.5)),
      steps=600,                    # drawn trajectory length
      bilinear=ml_collections.ConfigDict(dict(
          init_x=1.0, init_y=1.0, lr=0.1, steps=150, dt=0.01, limit=2.5)),
  ))

  # 2-D follow-up: mode coverage with the project's training code.
  config.modes = ml_collections.ConfigDict(dict(
      train=toy_ring.get_config("non_saturating"),
      datasets=("ring", "grid"),
      r1_gammas=(1.0,),
      num_steps=2000,
      num_samples=2500,
      min_count=20,
      loose_num_std=10.0,          # second count: within 10 std of a centre
  ))
  config.modes.train.train.progress_bar = False
  # Adam(5e-4) for both players, set here so the numbers do not follow
  # changes of toy_ring's default (1e-4 when these runs were made, now 1e-3).
  for opt in (config.modes.train.optimizer_g, config.modes.train.optimizer_d):
    opt.learning_rate = 5e-4

  if arg == "runlocal":
    config.methods = ("non_saturating", "r1")
    config.steps = 50
    config.grid.num = 3
    config.plot.steps = 20
  elif arg == "modes_runlocal":
    config.modes.datasets = ("ring",)
    config.modes.num_steps = 3
    config.modes.num_samples = 200
    config.modes.train.dataset.batch_size = 16
    config.modes.train.model.g_hidden = (16,)
    config.modes.train.model.d_hidden = (16,)
  return config
