"""train_and_evaluate(config, workdir): the training loop.

It writes into `workdir`:
  config.json          the config of the run (on resume, a change that alters
                       training is refused; see workdir.record_config)
  checkpoints/<step>/  orbax checkpoints of the whole GANState, with digests
  metrics.jsonl/.csv   scalars every `train.log_every` steps, with wall time; tb/
                       events: the scalars, sample grids, the config and hparams
  provenance.json      per start / resume: command line, packages, git commit
  samples/step_<n>.png samples of a fixed latent batch every `train.sample_every`
  samples.gif, curves.png  the grids over training and the logged curves
  .lock                while a process trains into it
Every `eval.every_steps` (if > 0) and at the end, samples are scored
(`evaluation.Evaluator`) and logged with the losses.

Nothing is lost, nothing silently wrong:
- The whole config is validated before anything is written.
- A run in a workdir that has checkpoints resumes from the latest one and
  continues exactly as an uninterrupted run would (same data order, keys and
  logged rows), given the same devices and XLA:CPU thread count (a different
  count changes float reductions; resuming then warns).
- SIGTERM / SIGINT save a checkpoint of the step in progress and raise
  StopRequested: no finished step is lost.
- A non-finite metric, or a state with a non-finite value or a weight above
  `train.max_param_magnitude`, stops the run with the step and the last good
  checkpoint named; such a state is never checkpointed.
- Samples, figures and TensorBoard are written after the checkpoint and
  best-effort: a failure there (e.g. a full disk) is a warning.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import signal
import sys
import time
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from gan_jax import conditioning
from gan_jax import config_checks
from gan_jax import data as data_lib
from gan_jax import evaluation
from gan_jax import guards
from gan_jax import models
from gan_jax import parallel
from gan_jax import reductions
from gan_jax import viz
from gan_jax.checkpoints import Checkpointer, load_run_config
from gan_jax.errors import ConfigError, NonFiniteLossError, StopRequested  # noqa: F401
from gan_jax.preemption import StopSignals
from gan_jax.state import GANState, count_params, create_state
from gan_jax.workdir import (WorkdirLock, check_resumable_config, record_config,
                             record_provenance)
from gan_jax.writers import MetricWriter


def fixed_latents(config: ml_collections.ConfigDict) -> jax.Array:
  """The latent batch [num_grid_samples, latent_dim] used for every sample grid."""
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x5A4D)
  return jax.random.normal(key, (config.train.num_grid_samples, config.model.latent_dim))


def fixed_labels(config: ml_collections.ConfigDict) -> np.ndarray | None:
  """The classes of the grid's samples (a class-conditional GAN: contiguous
  equal blocks, so 100 samples of 10 classes give one class per row), else None."""
  num_classes = conditioning.num_classes(config.conditioning)
  if not num_classes:
    return None
  return conditioning.grid_labels(config.train.num_grid_samples, num_classes)


def write_samples(state: GANState, latents: jax.Array, workdir: str, step: int, *,
                  real: np.ndarray | None = None, labels: np.ndarray | None = None) -> str:
  """Writes samples/step_<step>.png: G(latents) (G(latents, labels) when
  conditional), over `real` points for 2-D data."""
  os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
  path = os.path.join(workdir, "samples", f"step_{step:07d}.png")
  samples = np.asarray(jax.jit(lambda s, z, y: s.generate(z, y))(state, latents, labels))
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


def _log_samples(writer: MetricWriter, state: GANState, latents: jax.Array, workdir: str,
                 step: int, *, real: np.ndarray | None, labels: np.ndarray | None) -> None:
  """The sample grid PNG, and the same picture in TensorBoard."""
  path = write_samples(state, latents, workdir, step, real=real, labels=labels)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(path) as picture:
    writer.write_image(step, "samples", np.asarray(picture.convert("RGB")))


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
    out[key] = reductions.combine(key, value.ravel())
    if num_seeds > 1:
      out.update({f"{key}/seed_{i}": float(v) for i, v in enumerate(value)})
  return out


def best_effort(what: str, fn, *args, **kwargs) -> None:
  """Runs `fn`; an OSError (a full disk, a missing folder) is only a warning,
  for outputs that a resumed run does not need."""
  try:
    fn(*args, **kwargs)
  except OSError as e:
    logging.warning("Could not write %s (%s); training goes on.", what, e)


def run_record(runner: parallel.StepRunner) -> dict[str, Any]:
  """What decides the float results besides the config: backend and devices."""
  return {"backend": jax.default_backend(), "num_devices": runner.num_devices,
          "num_processes": jax.process_count(), "cpu_count": len(os.sched_getaffinity(0)),
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def _stop_agreed(stop: StopSignals, *, log_now: bool) -> bool:
  """Whether to stop after this step. One process: as soon as a signal came.
  Several: at log steps, when any process got one (all must save together)."""
  if jax.process_count() == 1:
    return stop.requested is not None
  if not log_now:
    return False
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  flags = multihost_utils.process_allgather(np.asarray(stop.requested is not None))
  return bool(np.any(flags))


def _pending_to_json(window: list[Any], first_step: int) -> dict[str, Any]:
  return {"first_step": first_step,
          "rows": [{k: np.asarray(v).tolist() for k, v in m.items()} for m in window]}


def _pending_from_json(record: dict[str, Any]) -> list[Any]:
  return [{k: np.asarray(v, np.float64) for k, v in m.items()} for m in record["rows"]]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       allow_config_change: bool = False) -> GANState:
  """Trains (resuming if `workdir` has checkpoints) and returns the final state
  (host layout; stacked over seeds when `num_seeds > 1`).

  Args:
    config: the experiment config.
    workdir: the run folder (created if missing).
    allow_config_change: resume even if the config changed in a field that
      alters training (the old config is kept in config_history/).

  Raises:
    ConfigError: an invalid field (before anything is written), a changed
      config on resume, or num_steps below the resumed step.
    WorkdirLockedError: another live process trains into `workdir`.
    NonFiniteLossError: a metric or the state became non-finite (or too large).
    CorruptCheckpointError: the latest checkpoint cannot be restored or
      fails its digest.
    StopRequested: SIGTERM / SIGINT; the step in progress was checkpointed.
  """
  config_checks.validate_config(config)
  models.check_model_config(config.model)
  parallel.initialize_distributed(config.parallel)
  chief = jax.process_index() == 0  # only process 0 writes logs, samples, figures
  os.makedirs(workdir, exist_ok=True)
  with (WorkdirLock(workdir) if chief else contextlib.nullcontext()), StopSignals() as stop:
    return _train(config, workdir, chief=chief, stop=stop,
                  allow_config_change=allow_config_change)


def _train(config: ml_collections.ConfigDict, workdir: str, *, chief: bool, stop: StopSignals,
           allow_config_change: bool) -> GANState:
  tc = config.train
  dataset = data_lib.get_dataset(config.dataset)
  runner = parallel.StepRunner(config, dataset)
  num_seeds = config.num_seeds
  state = runner.init_state()
  checkpointer = Checkpointer(workdir, max_to_keep=tc.max_checkpoints)
  window: list[Any] = []
  try:
    if checkpointer.latest_step() is not None:
      if chief:  # before the restore: a changed architecture is a changed config
        check_resumable_config(config, workdir, resume_step=checkpointer.latest_step(),
                               allow_change=allow_config_change)
      state = checkpointer.restore(state)
      logging.info("Resumed from %s", checkpointer.path(checkpointer.latest_step()))
      meta = checkpointer.last_meta
      if meta.get("pending_metrics"):
        window = _pending_from_json(meta["pending_metrics"])
      if meta.get("run") and meta["run"] != run_record(runner):
        logging.warning("Resuming on other devices than the checkpoint's (%s, now %s): the "
                        "continuation is not bit-exact.", meta["run"], run_record(runner))
    elif config.warm_start.workdir:
      if num_seeds > 1:
        raise ConfigError("warm_start with num_seeds > 1 is not supported")
      state = warm_start(state, config, sample_shape=dataset.sample_shape)
    start = int(np.ravel(state.step)[0])
    if start > tc.num_steps:
      raise ConfigError(f"{workdir} holds a run at step {start}, past train.num_steps="
                        f"{tc.num_steps}; raise num_steps to continue it, or use another workdir")
    if chief:
      record_config(config, workdir, resume_step=start, allow_change=allow_config_change)
      best_effort("provenance.json", record_provenance, workdir, start_step=start)
    if start == tc.num_steps:
      logging.warning("%s is already at train.num_steps=%d: nothing to train.", workdir, start)
      return runner.unplace(state)
    return _loop(config, workdir, state, runner=runner, dataset=dataset, chief=chief, stop=stop,
                 checkpointer=checkpointer, window=window, start=start)
  finally:
    checkpointer.close()


def _loop(config: ml_collections.ConfigDict, workdir: str, state: GANState, *,
          runner: parallel.StepRunner, dataset: data_lib.Dataset, chief: bool, stop: StopSignals,
          checkpointer: Checkpointer, window: list[Any], start: int) -> GANState:
  tc, num_seeds = config.train, config.num_seeds
  first_seed = (lambda s: parallel.select_seed(s, 0)) if num_seeds > 1 else (lambda s: s)
  writer = MetricWriter(workdir, resume_step=start) if chief else None
  if writer is not None and start == 0:
    writer.write_config(str(config), config_checks.flatten(config))
  latents, labels = fixed_latents(config), fixed_labels(config)
  real_points = (dataset.real_samples(split="train", num=len(latents), seed=config.seed)
                 if dataset.is_toy else None)
  evaluator = (evaluation.Evaluator(config, dataset) if config.eval.every_steps and chief
               else None)
  logging.info("G: %d params, D: %d params; data %s %s; %s on %d device(s), %d seed(s); "
               "%d steps from step %d", count_params(first_seed(state).g_params),
               count_params(first_seed(state).d_params), dataset.name, dataset.sample_shape,
               runner.backend, runner.num_devices, num_seeds, tc.num_steps, start)

  state = runner.place(state)
  window_start = start + 1 - len(window)
  last_good = lambda: checkpointer.path(checkpointer.latest_step())
  progress = tqdm.tqdm(total=tc.num_steps, initial=start, disable=not (tc.progress_bar and chief),
                       desc="train", unit="step", dynamic_ncols=True)
  timer, timer_step = time.perf_counter(), start
  session_start = time.perf_counter()
  postfix: dict[str, str] = {}
  try:
    with logs_through(progress):
      for step in range(start + 1, tc.num_steps + 1):
        state, metrics = runner(state, step - 1)
        window.append(metrics)
        progress.update(1)
        if step == start + 1:  # the rate and ETA count from here: compilation left out
          progress.reset(total=tc.num_steps)  # clears the clock and the rate's average
          progress.n = progress.last_print_n = progress.initial = step
          progress.refresh()
        is_last = step == tc.num_steps
        log_now = step % tc.log_every == 0 or step % tc.checkpoint_every == 0 or is_last
        stopping = _stop_agreed(stop, log_now=log_now) and not is_last
        if log_now:
          host = [per_seed(m, num_seeds) for m in jax.device_get(window)]
          guards.check_metrics(host, first_step=window_start, last_good=last_good())
          if chief and (step % tc.log_every == 0 or is_last):
            now = time.perf_counter()
            means = {k: reductions.combine(k, [m[k] for m in host]) for k in host[0]}
            means["perf/steps_per_sec"] = (step - timer_step) / max(now - timer, 1e-9)
            timer, timer_step = now, step
            writer.write_scalars(step, means)
            postfix = {k: f"{means[k]:.3f}" for k in ("d/loss", "g/loss")}
            progress.set_postfix(postfix)
            logging.info("step %d: %s", step, ", ".join(
                f"{k}={v:.4g}" for k, v in sorted(means.items()) if "/seed_" not in k))
          window, window_start = [], step + 1
        elif stopping:
          guards.check_metrics([per_seed(m, num_seeds) for m in jax.device_get(window)],
                               first_step=window_start, last_good=last_good())
        sample_now = chief and (step % tc.sample_every == 0 or is_last)
        eval_now = evaluator is not None and (step % config.eval.every_steps == 0 or is_last)
        checkpoint_now = step % tc.checkpoint_every == 0 or is_last or stopping
        host_state = runner.unplace(state) if (sample_now or eval_now or checkpoint_now) else None
        if eval_now:
          progress.set_postfix_str(f"evaluating step {step} ...", refresh=True)
          scores = ([evaluator(parallel.select_seed(host_state, i)) for i in range(num_seeds)]
                    if num_seeds > 1 else [evaluator(host_state)])
          scores = per_seed({k: [sc[k] for sc in scores] for k in scores[0]}, num_seeds)
          writer.write_scalars(step, scores, metadata=evaluator.info)
          progress.set_postfix(postfix)
          logging.info("step %d eval: %s", step, ", ".join(
              f"{k}={v:.4g}" for k, v in sorted(scores.items()) if "/seed_" not in k))
        if checkpoint_now:
          guards.check_state(host_state, step=step, max_magnitude=tc.max_param_magnitude,
                             last_good=last_good())
          pending = _pending_to_json(jax.device_get(window), window_start) if window else None
          checkpointer.save(step, host_state,
                            meta={"pending_metrics": pending, "run": run_record(runner),
                                  "sample_shape": list(dataset.sample_shape)})
        if sample_now:
          best_effort(f"the samples of step {step}", _log_samples, writer, first_seed(host_state),
                      latents, workdir, step, real=real_points, labels=labels)
        if stopping:
          raise StopRequested(
              f"Stopped by {signal_name(stop.requested)} after step {step}; checkpoint "
              f"{checkpointer.path(step)} saved. Run the same command again to resume.",
              signum=stop.requested or 15)
  finally:
    progress.close()
    if writer is not None:
      writer.close()
  if chief:
    best_effort("curves.png and samples.gif", write_figures, workdir, writer.rows,
                title=f"{config.objective} / {dataset.name}")
    logging.info("%s", run_summary(writer.rows, workdir=workdir, start=start, end=tc.num_steps,
                                   seconds=time.perf_counter() - session_start))
  return runner.unplace(state)


@contextlib.contextmanager
def logs_through(progress: tqdm.tqdm):
  """While the bar is shown, absl log lines are printed through it (tqdm.write),
  so they do not break the bar's line."""
  if progress.disable:
    yield
    return
  handler = logging.get_absl_handler()

  class _ThroughBar(std_logging.Filter):
    def filter(self, record):
      tqdm.tqdm.write(handler.format(record), file=sys.stderr)
      return False
  through = _ThroughBar()
  handler.addFilter(through)
  try:
    yield
  finally:
    handler.removeFilter(through)


def run_summary(rows: list[dict], *, workdir: str, start: int, end: int, seconds: float) -> str:
  """The end-of-run lines: steps and wall time, the last scores, where the files are."""
  evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
  scores = ", ".join(f"{k}={v:.4g}" for k, v in sorted(evals[-1].items())
                     if k.startswith("eval/") and "/seed_" not in k) if evals else "none"
  return (f"Finished: steps {start + 1}-{end} in {seconds / 60:.1f} min. Last evaluation "
          f"(step {evals[-1]['step'] if evals else '-'}): {scores}. In {workdir}: "
          f"checkpoints/{end}, metrics.jsonl / .csv, samples/, curves.png, tb/.")


def signal_name(signum: int | None) -> str:
  return signal.Signals(signum).name if signum else "a signal to another process"
