"""2-D follow-up to the Dirac-GAN: does R1 help a real GAN cover the modes?

`run_mode_coverage(config, workdir)` trains the MLP GAN of
`experiments/toy_ring.py` on each configured mixture (ring of 8, grid of 25
Gaussians) once without a regularizer and once with R1 for every configured
gamma, all with the project's own training code
(`gan_jax.data.get_dataset`, `gan_jax.state.create_state`,
`gan_jax.steps.make_train_step`), then counts the covered modes of
`num_samples` generated points with `gan_jax.data.toy2d.covered_modes` (a mode
is covered when at least `min_count` samples lie within 3 std of it, the
function's default; a looser `loose_num_std` count is reported too, since the
ring's modes have std 0.02 and a blurry but mode-seeking generator scores 0
at 3 std). It also reports the fraction of "high-quality" samples (within 3 std of some mode).
It writes `modes.md` (a markdown table), `modes.json` and a scatter plot per
run into the workdir.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import time
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax import data as data_lib
from gan_jax import steps as steps_lib
from gan_jax import viz
from gan_jax.data import toy2d
from gan_jax.state import create_state


def run_config(base: ml_collections.ConfigDict, *, dataset: str, penalty: str,
               gamma: float) -> ml_collections.ConfigDict:
  """A copy of the training config `base` for one (dataset, regularizer) run."""
  config = copy.deepcopy(base)
  config.dataset.name = dataset
  config.penalty.name = penalty
  config.penalty.weight = gamma
  return config


def train_and_count(config: ml_collections.ConfigDict, *, num_samples: int,
                    min_count: int, loose_num_std: float
                    ) -> tuple[dict[str, Any], np.ndarray]:
  """Trains one GAN on a 2-D mixture and counts the modes its samples cover.

  Args:
    config: a full training config (see `experiments/base.py`) whose dataset
      is a `toy2d` mixture.
    num_samples: generated points to evaluate.
    min_count: samples a mode needs to count as covered.
    loose_num_std: radius (in mode stds) of a second, looser count.

  Returns:
    (summary, samples): summary has dataset, penalty, gamma, steps,
    covered_modes (within 3 std), covered_modes_loose (within loose_num_std
    std), num_modes, high_quality (fraction of samples within 3 std
    of a mode), final d/g losses and seconds; samples is float32
    [num_samples, 2].

  Raises:
    FloatingPointError: a non-finite loss at the end of training.
  """
  start = time.perf_counter()
  dataset = data_lib.get_dataset(config.dataset)
  state = create_state(config, sample_shape=dataset.sample_shape)
  train_step = jax.jit(steps_lib.make_train_step(config), donate_argnums=0)
  batches = dataset.batches(seed=config.seed,
                            num_critic_steps=config.num_critic_steps)
  metrics = {}
  for batch in itertools.islice(batches, config.train.num_steps):
    state, metrics = train_step(state, batch)
  metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
  if not all(np.isfinite(v) for v in metrics.values()):
    raise FloatingPointError(f"non-finite metrics after training: {metrics}")
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0xC0DE)
  latents = jax.random.normal(key, (num_samples, config.model.latent_dim))
  samples = np.asarray(state.generate(latents))
  covered = toy2d.covered_modes(samples, name=dataset.name, min_count=min_count)
  centers = toy2d.mode_centers(dataset.name)
  nearest = np.min(np.linalg.norm(samples[:, None] - centers[None], axis=-1), axis=1)
  summary = dict(
      dataset=dataset.name, penalty=config.penalty.name,
      gamma=float(config.penalty.weight), steps=int(config.train.num_steps),
      covered_modes=int(covered.sum()),
      covered_modes_loose=int(toy2d.covered_modes(
          samples, name=dataset.name, min_count=min_count,
          num_std=loose_num_std).sum()),
      loose_num_std=float(loose_num_std), num_modes=int(len(covered)),
      high_quality=float(np.mean(nearest <= 3 * toy2d.mode_std(dataset.name))),
      d_loss=metrics.get("d/loss", float("nan")),
      g_loss=metrics.get("g/loss", float("nan")),
      seconds=time.perf_counter() - start)
  return summary, samples


def modes_table(summaries: list[dict[str, Any]]) -> str:
  """Markdown table: dataset | regularizer | covered modes | high quality | ..."""
  lines = ["| dataset | regularizer | covered modes (3 std) | covered modes "
           "(loose) | high-quality samples | steps | final d/loss | final g/loss "
           "| seconds |",
           "|---|---|---|---|---|---|---|---|---|"]
  for s in summaries:
    reg = "none" if s["penalty"] == "none" else f"{s['penalty']} γ={s['gamma']:g}"
    lines.append(
        f"| {s['dataset']} | {reg} | {s['covered_modes']}/{s['num_modes']} | "
        f"{s['covered_modes_loose']}/{s['num_modes']} ({s['loose_num_std']:g} std) | "
        f"{100 * s['high_quality']:.1f}% | {s['steps']} | {s['d_loss']:.3f} | "
        f"{s['g_loss']:.3f} | {s['seconds']:.0f} |")
  return "\n".join(lines) + "\n"


def run_mode_coverage(config: ml_collections.ConfigDict,
                      workdir: str) -> list[dict[str, Any]]:
  """Runs every (dataset, regularizer) pair of `config.modes`; writes results.

  Args:
    config: the lab config (`experiments/dirac_gan.py:modes`); reads
      `config.modes.{train, datasets, r1_gammas, num_steps, num_samples,
      min_count, loose_num_std}`.
    workdir: output folder (modes.md, modes.json, modes_<dataset>_<reg>.png).

  Returns:
    One summary dict per run (see `train_and_count`).
  """
  cfg = config.modes
  os.makedirs(workdir, exist_ok=True)
  regularizers = [("none", 0.0)] + [("r1", float(g)) for g in cfg.r1_gammas]
  summaries = []
  for dataset, (penalty, gamma) in itertools.product(cfg.datasets, regularizers):
    train_config = run_config(cfg.train, dataset=dataset, penalty=penalty,
                              gamma=gamma)
    train_config.train.num_steps = cfg.num_steps
    summary, samples = train_and_count(train_config, num_samples=cfg.num_samples,
                                       min_count=cfg.min_count,
                                       loose_num_std=cfg.loose_num_std)
    tag = "none" if penalty == "none" else f"{penalty}_{gamma:g}"
    real = np.asarray(toy2d.sample(dataset, key=jax.random.PRNGKey(1),
                                   num=cfg.num_samples))
    viz.save_scatter(
        os.path.join(workdir, f"modes_{dataset}_{tag}.png"), samples, real=real,
        title=f"{dataset}, {tag}: {summary['covered_modes']}/"
              f"{summary['num_modes']} modes",
        limit=3.0 if dataset == "ring" else 5.5)
    logging.info("modes: %s", summary)
    summaries.append(summary)
  with open(os.path.join(workdir, "modes.json"), "w") as f:
    json.dump(summaries, f, indent=2)
  with open(os.path.join(workdir, "modes.md"), "w") as f:
    f.write(modes_table(summaries))
  return summaries
