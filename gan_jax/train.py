"""train_and_evaluate(config, workdir): the training loop.

It writes into `workdir`:
  config.json          the config of the run (checked against on resume)
  checkpoints/<step>/  orbax checkpoints of the whole GANState
  metrics.jsonl/.csv   scalars every `train.log_every` steps (and tb/ events)
  samples/step_<n>.png samples of a fixed latent batch every `train.sample_every`
  samples.gif, curves.png  the grids over training and the logged curves
Every `eval.every_steps` (if > 0) and at the end, samples are scored
(`evaluation.Evaluator`) and logged with the losses.
A run in a workdir that has checkpoints resumes from the latest one and
continues exactly as an uninterrupted run would (same data order, same keys).
A non-finite metric stops the run with the step range and the last good
checkpoint named; no checkpoint is written from a non-finite state.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from gan_jax import data as data_lib
from gan_jax import evaluation
from gan_jax import parallel
from gan_jax import viz
from gan_jax.checkpoints import Checkpointer, load_run_config
from gan_jax.state import GANState, count_params, create_state
from gan_jax.writers import MetricWriter


class NonFiniteLossError(FloatingPointError):
  """Training produced a NaN or infinite metric."""


def fixed_latents(config: ml_collections.ConfigDict) -> jax.Array:
  """The latent batch [num_grid_samples, latent_dim] used for every sample grid."""
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x5A4D)
  return jax.random.normal(key, (config.train.num_grid_samples, config.model.latent_dim))


def _save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  path = os.path.join(workdir, "config.json")
  new = json.loads(config.to_json_best_effort())
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    if old != new:
      changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
      logging.warning("Resuming %s with a changed config (top-level keys %s); "
                      "config.json now holds the new one.", workdir, changed)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(new, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def _check_finite(window: list[dict[str, float]], first_step: int,
                  checkpointer: Checkpointer) -> None:
  for offset, metrics in enumerate(window):
    bad = sorted(k for k, v in metrics.items() if not np.isfinite(v))
    if bad:
      step = first_step + offset
      last = checkpointer.latest_step()
      raise NonFiniteLossError(
          f"Non-finite {', '.join(bad)} at step {step} (values {[metrics[k] for k in bad]}). "
          f"Stopped; last good checkpoint: {checkpointer.path(last)}")


def write_samples(state: GANState, latents: jax.Array, workdir: str, step: int, *,
                  real: np.ndarray | None = None) -> str:
  """Writes samples/step_<step>.png: G(latents), over `real` points for 2-D data."""
  os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
  path = os.path.join(workdir, "samples", f"step_{step:07d}.png")
  samples = np.asarray(jax.jit(lambda s, z: s.generate(z))(state, latents))
  viz.save_samples(path, samples, title=f"step {step}", real=real)
  return path


def warm_start(state: GANState, config: ml_collections.ConfigDict, *,
               sample_shape: tuple[int, ...]) -> GANState:
  """Copies G and D weights (and batch-norm statistics) from another run.

  The other run's checkpoint (`warm_start.step`, 0 = latest) is restored with
  that run's own config.json, so its optimizer may differ; optimizer states and
  the step counter stay fresh.

  Raises:
    FileNotFoundError: the other run has no config.json or no checkpoint.
    ValueError: the networks' parameter shapes differ.
  """
  source = config.warm_start.workdir
  other = create_state(load_run_config(source), sample_shape=sample_shape)
  checkpointer = Checkpointer(source)
  try:
    other = checkpointer.restore(other, step=config.warm_start.step or None)
  finally:
    checkpointer.close()
  for name in ("g_params", "d_params", "g_batch_stats", "d_batch_stats"):
    mine, theirs = (jax.tree.map(jnp.shape, getattr(s, name)) for s in (state, other))
    if mine != theirs:
      raise ValueError(f"Cannot warm start from {source}: {name} differ in structure or "
                       "shape (different model config?)")
  logging.info("Warm start: G and D weights from %s step %d", source, int(other.step))
  return state.replace(g_params=other.g_params, d_params=other.d_params,
                       g_batch_stats=other.g_batch_stats, d_batch_stats=other.d_batch_stats)


def write_figures(workdir: str, rows: list[dict], *, title: str) -> None:
  """curves.png from the logged rows and samples.gif from the sample grids."""
  viz.plot_curves(os.path.join(workdir, "curves.png"), rows, title=title)
  sample_dir = os.path.join(workdir, "samples")
  frames = sorted(os.path.join(sample_dir, f) for f in os.listdir(sample_dir)
                  if f.startswith("step_") and f.endswith(".png"))
  if frames:
    viz.samples_gif(os.path.join(workdir, "samples.gif"), frames)


def per_seed(metrics: dict[str, Any], num_seeds: int) -> dict[str, float]:
  """Host floats; with N seeds, the mean over seeds plus `<key>/seed_<i>`."""
  out = {}
  for key, value in metrics.items():
    value = np.asarray(value, np.float64)
    out[key] = float(value.mean())
    if num_seeds > 1:
      out.update({f"{key}/seed_{i}": float(v) for i, v in enumerate(value)})
  return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> GANState:
  """Trains (resuming if `workdir` has checkpoints) and returns the final state
  (host layout; stacked over seeds when `num_seeds > 1`).

  Raises:
    ValueError: invalid config values or names.
    NonFiniteLossError: a loss became NaN/inf.
    CorruptCheckpointError: the latest checkpoint cannot be restored.
  """
  tc = config.train
  for field in ("num_steps", "log_every", "sample_every", "checkpoint_every"):
    if tc[field] <= 0:
      raise ValueError(f"train.{field} must be positive, got {tc[field]}")
  if config.eval.every_steps < 0:
    raise ValueError(f"eval.every_steps must be >= 0 (0 disables), got {config.eval.every_steps}")
  parallel.initialize_distributed(config.parallel)
  chief = jax.process_index() == 0  # only process 0 writes logs, samples, figures
  os.makedirs(workdir, exist_ok=True)
  dataset = data_lib.get_dataset(config.dataset)
  runner = parallel.StepRunner(config, dataset)
  num_seeds = config.num_seeds
  state = runner.init_state()
  checkpointer = Checkpointer(workdir, max_to_keep=tc.max_checkpoints)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state)
    logging.info("Resumed from %s", checkpointer.path(checkpointer.latest_step()))
  elif config.warm_start.workdir:
    if num_seeds > 1:
      raise ValueError("warm_start with num_seeds > 1 is not supported")
    state = warm_start(state, config, sample_shape=dataset.sample_shape)
  start = int(np.ravel(state.step)[0])
  first_seed = (lambda s: parallel.select_seed(s, 0)) if num_seeds > 1 else (lambda s: s)
  if chief:
    _save_config(config, workdir)
    writer = MetricWriter(workdir, resume_step=start)
  latents = fixed_latents(config)
  real_points = (dataset.real_samples(split="train", num=len(latents), seed=config.seed)
                 if dataset.is_toy else None)
  evaluator = (evaluation.Evaluator(config, dataset) if config.eval.every_steps and chief
               else None)
  logging.info("G: %d params, D: %d params; data %s %s; %s on %d device(s), %d seed(s); "
               "%d steps from step %d", count_params(first_seed(state).g_params),
               count_params(first_seed(state).d_params), dataset.name, dataset.sample_shape,
               runner.backend, runner.num_devices, num_seeds, tc.num_steps, start)

  state = runner.place(state)
  window: list[Any] = []
  window_start = start + 1
  progress = tqdm.tqdm(total=tc.num_steps, initial=start, disable=not (tc.progress_bar and chief),
                       desc="train", unit="step", dynamic_ncols=True)
  timer, timer_step = time.perf_counter(), start
  try:
    for step in range(start + 1, tc.num_steps + 1):
      state, metrics = runner(state, step - 1)
      window.append(metrics)
      progress.update(1)
      is_last = step == tc.num_steps
      log_now = step % tc.log_every == 0 or step % tc.checkpoint_every == 0 or is_last
      if log_now:
        host = [per_seed(m, num_seeds) for m in jax.device_get(window)]
        _check_finite(host, window_start, checkpointer)
        if chief and (step % tc.log_every == 0 or is_last):
          now = time.perf_counter()
          means = {k: float(np.mean([m[k] for m in host])) for k in host[0]}
          means["perf/steps_per_sec"] = (step - timer_step) / max(now - timer, 1e-9)
          timer, timer_step = now, step
          writer.write_scalars(step, means)
          progress.set_postfix({k: f"{means[k]:.3f}" for k in ("d/loss", "g/loss")})
          logging.info("step %d: %s", step, ", ".join(
              f"{k}={v:.4g}" for k, v in sorted(means.items()) if "/seed_" not in k))
        window, window_start = [], step + 1
      sample_now = step % tc.sample_every == 0 or is_last
      eval_now = evaluator is not None and (step % config.eval.every_steps == 0 or is_last)
      if chief and (sample_now or eval_now):
        host_state = runner.unplace(state)
        if sample_now:
          write_samples(first_seed(host_state), latents, workdir, step, real=real_points)
        if eval_now:
          scores = ([evaluator(parallel.select_seed(host_state, i)) for i in range(num_seeds)]
                    if num_seeds > 1 else [evaluator(host_state)])
          scores = per_seed({k: [sc[k] for sc in scores] for k in scores[0]}, num_seeds)
          writer.write_scalars(step, scores, metadata=evaluator.info)
          logging.info("step %d eval: %s", step, ", ".join(
              f"{k}={v:.4g}" for k, v in sorted(scores.items()) if "/seed_" not in k))
      if step % tc.checkpoint_every == 0 or is_last:
        checkpointer.save(step, runner.unplace(state))
  finally:
    progress.close()
    checkpointer.close()
    if chief:
      writer.close()
  if chief:
    write_figures(workdir, writer.rows, title=f"{config.objective} / {dataset.name}")
  return runner.unplace(state)
