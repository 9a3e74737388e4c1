"""train_and_evaluate(config, workdir): the CycleGAN training loop.

It writes into `workdir`:
  config.json                 the run's config; on resume a change outside
                              RESUMABLE_FIELDS is refused
  checkpoints/<step>/         orbax checkpoints of the whole CycleGANState
                              (`gan_jax.checkpoints.Checkpointer`, with digests)
  metrics.jsonl / .csv, tb/   the step metrics (`steps` module docstring),
                              means over each `train.log_every` steps, with
                              perf/steps_per_sec and wall time
  samples/translation_<step>.png   the translation grid (`save_translation_grid`)
                              every `train.sample_every` steps and at the end
  provenance.json             per start / resume: command line, packages, commit
  .lock                       while a process trains into it
A run in a workdir with checkpoints resumes from the latest one and continues
exactly as an uninterrupted run: the batches are a pure function of (seed,
step) (`cyclegan.data`), the step's keys of (rng, step), and the metrics of
steps not yet logged travel in the checkpoint, so metrics.jsonl gets the same
rows. SIGTERM / SIGINT checkpoint the step in progress and raise
StopRequested; a non-finite metric or state stops the run with the last good
checkpoint named, and such a state is never checkpointed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax import config_checks
from gan_jax import guards
from gan_jax import viz
from gan_jax.checkpoints import Checkpointer
from gan_jax.cyclegan import data
from gan_jax.cyclegan import steps
from gan_jax.cyclegan.state import CycleGANState, create_state
from gan_jax.errors import ConfigError, StopRequested
from gan_jax.preemption import StopSignals
from gan_jax.workdir import WorkdirLock, record_provenance
from gan_jax.writers import MetricWriter

# Fields a resumed run may change: they decide how long and what is written, not the steps.
RESUMABLE_FIELDS = frozenset({"train.num_steps", "train.log_every", "train.sample_every",
                              "train.checkpoint_every", "train.max_checkpoints"})
GRID_ROWS = ("a", "g_a", "f_g_a", "b", "f_b", "g_f_b")  # keys of `steps.translate`
GRID_SCALE = 4  # pixels per image pixel in the PNG


def check_train_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for a `train` field out of range (num_steps >= 1, the
  intervals >= 1, max_checkpoints >= 1)."""
  t = config.train
  for name in ("num_steps", "log_every", "sample_every", "checkpoint_every", "max_checkpoints"):
    if not isinstance(t[name], int) or t[name] < 1:
      raise ConfigError(f"train.{name} must be an integer >= 1, got {t[name]!r}")


def _config_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return json.loads(config.to_json_best_effort())


def check_resumable(config: ml_collections.ConfigDict, workdir: str, *, resume_step: int) -> None:
  """Raises ConfigError if `workdir/config.json` records a config that differs
  from `config` in a field outside RESUMABLE_FIELDS (a resumed run must be the
  same training); nothing when there is no config.json."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    old = json.load(f)
  changes = config_checks.changed_fields(old, _config_dict(config))
  refused = {k: v for k, v in changes.items() if k not in RESUMABLE_FIELDS}
  if refused:
    listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in refused.items())
    raise ConfigError(f"{workdir} holds a CycleGAN run (at step {resume_step}) of another "
                      f"config ({listed}); use a fresh workdir or the recorded config. Only "
                      f"{', '.join(sorted(RESUMABLE_FIELDS))} may change on resume.")


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes `workdir/config.json` atomically."""
  path = os.path.join(workdir, "config.json")
  with open(path + ".tmp", "w") as f:
    json.dump(_config_dict(config), f, indent=2, sort_keys=True)
  os.replace(path + ".tmp", path)


def save_translation_grid(path: str, images: dict[str, np.ndarray]) -> None:
  """Writes the translation grid PNG: six rows of n images in [-1, 1],
  (input A; G(A); F(G(A)); input B; F(B); G(F(B))), each [n, H, W, C]."""
  rows = [np.asarray(images[k]) for k in GRID_ROWS]
  viz.save_image_grid(path, np.concatenate(rows), num_cols=len(rows[0]), scale=GRID_SCALE)


def _means(window: list[dict[str, float]]) -> dict[str, float]:
  return {k: float(np.mean([m[k] for m in window])) for k in window[0]}


def _to_host(window: list[Any]) -> list[dict[str, float]]:
  return [{k: float(v) for k, v in m.items()} for m in jax.device_get(window)]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> CycleGANState:
  """Trains CycleGAN (resuming if `workdir` has checkpoints); returns the
  final state (host arrays).

  Raises:
    ConfigError: a field out of range, a changed config on resume, or a
      workdir already past train.num_steps.
    ValueError: a bad data, model, loss or pool field (see `cyclegan.data`,
      `cyclegan.state`, `cyclegan.steps`).
    WorkdirLockedError: another live process trains into `workdir`.
    NonFiniteLossError: a metric or the state became non-finite.
    CorruptCheckpointError: the latest checkpoint cannot be restored.
    StopRequested: SIGTERM / SIGINT; the step in progress was checkpointed.
  """
  check_train_config(config)
  os.makedirs(workdir, exist_ok=True)
  with WorkdirLock(workdir), StopSignals() as stop:
    return _train(config, workdir, stop=stop)


def _train(config: ml_collections.ConfigDict, workdir: str, *,
           stop: StopSignals) -> CycleGANState:
  domains = data.load_domains(config.data)
  state = create_state(config, sample_shape=domains.sample_shape)
  train_step = steps.jit_train_step(config)  # checks the loss fields before anything is written
  checkpointer = Checkpointer(workdir, max_to_keep=config.train.max_checkpoints)
  try:
    window: list[Any] = []
    latest = checkpointer.latest_step()
    if latest is not None:
      check_resumable(config, workdir, resume_step=latest)  # before the restore
      state = checkpointer.restore(state)
      window = checkpointer.last_meta.get("pending_metrics") or []
      logging.info("Resumed from %s", checkpointer.path(latest))
    start = int(state.step)
    if start > config.train.num_steps:
      raise ConfigError(f"{workdir} holds a run at step {start}, past train.num_steps="
                        f"{config.train.num_steps}; raise num_steps or use another workdir")
    write_config(config, workdir)
    record_provenance(workdir, start_step=start)
    if start == config.train.num_steps:
      logging.warning("%s is already at train.num_steps=%d: nothing to train.", workdir, start)
      return jax.device_get(state)
    return _loop(config, workdir, state, domains=domains, train_step=train_step,
                 checkpointer=checkpointer, window=window, start=start, stop=stop)
  finally:
    checkpointer.close()


def _loop(config: ml_collections.ConfigDict, workdir: str, state: CycleGANState, *,
          domains: data.Domains, train_step: steps.TrainStep, checkpointer: Checkpointer,
          window: list[Any], start: int, stop: StopSignals) -> CycleGANState:
  t = config.train
  count = lambda tree: sum(int(np.size(x)) for x in jax.tree.leaves(tree))
  logging.info("CycleGAN %s -> %s: G and F %d params each, D_X and D_Y %d each; batch %d; "
               "steps %d to %d", domains.a.name, domains.b.name, count(state.g_params),
               count(state.d_x_params), config.data.batch_size, start + 1, t.num_steps)
  translate = jax.jit(steps.translate)
  writer = MetricWriter(workdir, resume_step=start)
  os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
  last_good = lambda: checkpointer.path(checkpointer.latest_step())
  timer, timer_step, session_start = time.perf_counter(), start, time.perf_counter()
  try:
    for step in range(start + 1, t.num_steps + 1):
      batch_a, batch_b = domains.batches_at(step - 1, seed=config.seed)
      state, metrics = train_step(state, batch_a, batch_b)
      window.append(metrics)
      is_last = step == t.num_steps
      stopping = stop.requested is not None and not is_last
      if step % t.log_every == 0 or is_last:
        host = _to_host(window)
        guards.check_metrics(host, first_step=step + 1 - len(host), last_good=last_good())
        now = time.perf_counter()
        means = {**_means(host), "perf/steps_per_sec": (step - timer_step) / (now - timer)}
        writer.write_scalars(step, means)
        rate = means["perf/steps_per_sec"]
        logging.info("step %d/%d (%.2f steps/s, %.1f min left): %s", step, t.num_steps, rate,
                     (t.num_steps - step) / max(rate, 1e-9) / 60,
                     ", ".join(f"{k}={v:.4g}" for k, v in sorted(_means(host).items())))
        timer, timer_step, window = now, step, []
      checkpoint_now = step % t.checkpoint_every == 0 or is_last or stopping
      sample_now = step % t.sample_every == 0 or is_last
      if checkpoint_now:
        pending = _to_host(window)
        guards.check_metrics(pending, first_step=step + 1 - len(pending), last_good=last_good())
        host_state = jax.device_get(state)
        guards.check_state(host_state, step=step, max_magnitude=0.0, last_good=last_good())
        checkpointer.save(step, host_state, meta={"pending_metrics": pending})
      if sample_now:
        images = jax.device_get(translate(state, domains.grid_a, domains.grid_b))
        path = os.path.join(workdir, "samples", f"translation_{step:06d}.png")
        save_translation_grid(path, images)
      if stopping:
        raise StopRequested(f"Stopped after step {step}; checkpoint {checkpointer.path(step)} "
                            "saved. Run the same command again to resume.",
                            signum=stop.requested or 15)
  finally:
    writer.close()
  logging.info("Finished steps %d-%d in %.1f min; in %s: checkpoints/%d, metrics.jsonl, "
               "samples/translation_%06d.png", start + 1, t.num_steps,
               (time.perf_counter() - session_start) / 60, workdir, t.num_steps, t.num_steps)
  return jax.device_get(state)
