"""run(trainer, config, workdir): the resumable training loop of every trainer.

A trainer (`Trainer`: the GAN trainer of gan_jax/train.py, CycleGAN's of
gan_jax/cyclegan/train.py; by name in `gan_jax.trainers.TRAINERS`) says what
a step is and what its outputs are; this module owns everything around the
steps, the same for all of them:
  - the workdir lock (process 0), SIGTERM / SIGINT, and on several hosts the
    agreement to stop together;
  - resume from the latest checkpoint, refusing a config that changed outside
    the trainer's `resumable_fields` unless `allow_config_change`
    (config.json, config_history/; `gan_jax.workdir`), and provenance.json;
  - checkpoints with the metrics of steps not yet logged (so a resumed run logs
    the same rows) and the devices they were made on (a resume elsewhere warns);
  - the guards: a non-finite metric, or a state with a non-finite value or a
    weight above the trainer's `max_param_magnitude`, stops the run naming the
    last good checkpoint, and such a state is never checkpointed;
  - the cadence of logging, evaluation, checkpoints and samples (`due`),
    the progress bar, samples and figures written best-effort (a full disk is a
    warning), and the end-of-run summary.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import signal
import sys
import time
from typing import Any, Protocol

from absl import logging
import jax
import ml_collections
import numpy as np
import tqdm

from gan_jax import compat
from gan_jax import config_checks
from gan_jax import guards
from gan_jax import reductions
from gan_jax import wandb_log
from gan_jax.checkpoints import Checkpointer
from gan_jax.errors import ConfigError, StopRequested
from gan_jax.preemption import StopSignals
from gan_jax.workdir import WorkdirLock, check_resumable_config, record_config, record_provenance
from gan_jax.writers import MetricWriter


class Job(Protocol):
  """One run of a trainer: its data, networks and compiled step (`Trainer.build`).

  State is the trainer's pytree; `place` / `unplace` move it between the host
  layout (checkpoints, outputs) and the layout the step runs on.
  """
  num_seeds: int                # metric leaves carry a leading seed axis when > 1
  max_param_magnitude: float    # the state guard's weight bound (0 = off) ...
  bounded_fields: tuple[str, ...]  # ... over these fields of the state
  eval_every: int               # evaluate every this many steps (0 = never)
  progress_keys: tuple[str, ...]  # metrics shown beside the progress bar

  def init_state(self) -> Any: ...
  def start_fresh(self, state: Any) -> Any: ...   # a run from step 0 (e.g. a warm start)
  def place(self, state: Any) -> Any: ...
  def unplace(self, state: Any) -> Any: ...
  def step(self, state: Any, index: int) -> tuple[Any, dict[str, Any]]: ...  # step index+1
  def run_record(self) -> dict[str, Any]: ...     # what decides float results besides config
  def checkpoint_meta(self) -> dict[str, Any]: ...
  def describe(self, state: Any, *, start: int, num_steps: int) -> str: ...
  def evaluate(self, host_state: Any) -> tuple[dict[str, float], dict[str, Any]]: ...
  def write_samples(self, writer: MetricWriter | None, host_state: Any, step: int) -> None: ...
  def write_figures(self, rows: list[dict]) -> None: ...  # from all logged rows


class Trainer(Protocol):
  """A kind of training `run` drives (`gan_jax.trainers.TRAINERS`)."""
  name: str
  resumable_fields: frozenset[str]  # fields a resumed run may change

  def check_config(self, config: ml_collections.ConfigDict) -> None: ...  # raises ConfigError
  def upgrade_recorded(self, recorded: dict[str, Any]) -> dict[str, Any]: ...
  def build(self, config: ml_collections.ConfigDict, workdir: str) -> Job: ...  # checked
  def describe_config(self, config: ml_collections.ConfigDict) -> str: ...


def device_record(num_devices: int) -> dict[str, Any]:
  """What decides a run's float results besides its config: the backend, the
  devices and processes, the CPU threads and XLA's flags (a checkpoint keeps
  it; a resume elsewhere warns that it is not bit-exact)."""
  return {"backend": jax.default_backend(), "num_devices": num_devices,
          "num_processes": jax.process_count(), "cpu_count": len(os.sched_getaffinity(0)),
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def due(step: int, every: int, *, is_last: bool) -> bool:
  """Whether a task of cadence `every` (0 = never) runs after `step`: every
  `every` steps and after the last one."""
  return every > 0 and (step % every == 0 or is_last)


def per_seed(metrics: dict[str, Any], num_seeds: int) -> dict[str, float]:
  """Host floats; with N seeds, the combination over seeds (`reductions`) plus
  `<key>/seed_<i>`."""
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


def run(trainer: Trainer, config: ml_collections.ConfigDict, workdir: str, *,
        allow_config_change: bool = False) -> Any:
  """Trains (resuming if `workdir` has checkpoints); returns the final state
  (host layout).

  Raises:
    ConfigError: an invalid field (before anything is written), a changed
      config on resume, or num_steps below the resumed step.
    WorkdirLockedError: another live process trains into `workdir`.
    NonFiniteLossError: a metric or the state became non-finite (or too large).
    CorruptCheckpointError: the latest checkpoint cannot be restored or
      fails its digest.
    StopRequested: SIGTERM / SIGINT; the step in progress was checkpointed.
  """
  trainer.check_config(config)
  wandb_log.check_available(config.log)
  job = trainer.build(config, workdir)  # joins the other hosts first where there are several
  chief = jax.process_index() == 0  # only process 0 writes logs, samples, figures
  os.makedirs(workdir, exist_ok=True)
  with (WorkdirLock(workdir) if chief else contextlib.nullcontext()), StopSignals() as stop:
    checkpointer = Checkpointer(workdir, max_to_keep=config.train.max_checkpoints)
    try:
      return _start(trainer, job, config, workdir, checkpointer=checkpointer, chief=chief,
                    stop=stop, allow_config_change=allow_config_change)
    finally:
      checkpointer.close()


def _start(trainer: Trainer, job: Job, config: ml_collections.ConfigDict, workdir: str, *,
           checkpointer: Checkpointer, chief: bool, stop: StopSignals,
           allow_config_change: bool) -> Any:
  record = dict(resumable_fields=trainer.resumable_fields, upgrade=trainer.upgrade_recorded,
                allow_change=allow_config_change)
  num_steps = config.train.num_steps
  state = job.init_state()
  window: list[Any] = []
  latest = checkpointer.latest_step()
  if latest is not None:
    if chief:  # before the restore: a changed architecture is a changed config
      check_resumable_config(config, workdir, resume_step=latest, **record)
    state = checkpointer.restore(state)
    logging.info("Resumed from %s", checkpointer.path(latest))
    meta = checkpointer.last_meta
    if meta.get("pending_metrics"):
      window = compat.pending_rows(meta["pending_metrics"])
    if meta.get("run") and meta["run"] != job.run_record():
      logging.warning("Resuming on other devices than the checkpoint's (%s, now %s): the "
                      "continuation is not bit-exact.", meta["run"], job.run_record())
  else:
    state = job.start_fresh(state)
  start = int(np.ravel(state.step)[0])
  if start > num_steps:
    raise ConfigError(f"{workdir} holds a run at step {start}, past train.num_steps="
                      f"{num_steps}; raise num_steps to continue it, or use another workdir")
  if chief:
    record_config(config, workdir, resume_step=start, **record)
    best_effort("provenance.json", record_provenance, workdir, start_step=start)
  if start == num_steps:
    logging.warning("%s is already at train.num_steps=%d: nothing to train.", workdir, start)
    return job.unplace(state)
  return _loop(job, config, workdir, state, chief=chief, stop=stop, checkpointer=checkpointer,
               window=window, start=start)


def _loop(job: Job, config: ml_collections.ConfigDict, workdir: str, state: Any, *,
          chief: bool, stop: StopSignals, checkpointer: Checkpointer, window: list[Any],
          start: int) -> Any:
  tc, num_seeds = config.train, job.num_seeds
  log = config.log
  writer = (MetricWriter(workdir, resume_step=start, wandb=log if log.wandb else None)
            if chief else None)
  if writer is not None and start == 0:
    writer.write_config(str(config), config_checks.flatten(config))
  logging.info("%s", job.describe(state, start=start, num_steps=tc.num_steps))
  evaluate = chief and job.eval_every > 0
  state = job.place(state)
  window_start = start + 1 - len(window)
  last_good = lambda: checkpointer.path(checkpointer.latest_step())
  host_rows = lambda: [per_seed(m, num_seeds) for m in jax.device_get(window)]
  progress = tqdm.tqdm(total=tc.num_steps, initial=start, disable=not (tc.progress_bar and chief),
                       desc="train", unit="step", dynamic_ncols=True)
  timer, timer_step = time.perf_counter(), start
  session_start = time.perf_counter()
  postfix: dict[str, str] = {}
  try:
    with logs_through(progress):
      for step in range(start + 1, tc.num_steps + 1):
        state, metrics = job.step(state, step - 1)
        window.append(metrics)
        progress.update(1)
        if step == start + 1:  # the rate and ETA count from here: compilation left out
          progress.reset(total=tc.num_steps)  # clears the clock and the rate's average
          progress.n = progress.last_print_n = progress.initial = step
          progress.refresh()
        is_last = step == tc.num_steps
        log_now = due(step, tc.log_every, is_last=is_last)
        checkpoint_now = due(step, tc.checkpoint_every, is_last=is_last)
        stopping = _stop_agreed(stop, log_now=log_now or checkpoint_now) and not is_last
        checkpoint_now = checkpoint_now or stopping
        if log_now:
          host = host_rows()
          guards.check_metrics(host, first_step=window_start, last_good=last_good())
          if chief:
            now = time.perf_counter()
            means = {k: reductions.combine(k, [m[k] for m in host]) for k in host[0]}
            means["perf/steps_per_sec"] = (step - timer_step) / max(now - timer, 1e-9)
            timer, timer_step = now, step
            writer.write_scalars(step, means)
            postfix = {k: f"{means[k]:.3f}" for k in job.progress_keys if k in means}
            progress.set_postfix(postfix)
            logging.info("step %d: %s", step, ", ".join(
                f"{k}={v:.4g}" for k, v in sorted(means.items()) if "/seed_" not in k))
          window, window_start = [], step + 1
        elif checkpoint_now and window:  # checked now, kept in the checkpoint as pending
          guards.check_metrics(host_rows(), first_step=window_start, last_good=last_good())
        sample_now = chief and due(step, tc.sample_every, is_last=is_last)
        eval_now = evaluate and due(step, job.eval_every, is_last=is_last)
        host_state = job.unplace(state) if (sample_now or eval_now or checkpoint_now) else None
        if eval_now:
          progress.set_postfix_str(f"evaluating step {step} ...", refresh=True)
          scores, info = job.evaluate(host_state)
          writer.write_scalars(step, scores, metadata=info)
          progress.set_postfix(postfix)
          logging.info("step %d eval: %s", step, ", ".join(
              f"{k}={v:.4g}" for k, v in sorted(scores.items()) if "/seed_" not in k))
        if checkpoint_now:
          guards.check_state(host_state, step=step, max_magnitude=job.max_param_magnitude,
                             last_good=last_good(), bounded_fields=job.bounded_fields)
          pending = _pending_to_json(jax.device_get(window), window_start) if window else None
          checkpointer.save(step, host_state, meta={"pending_metrics": pending,
                                                    "run": job.run_record(),
                                                    **job.checkpoint_meta()})
        if sample_now:
          best_effort(f"the samples of step {step}", job.write_samples, writer, host_state, step)
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
    best_effort("the figures", job.write_figures, writer.rows)
    logging.info("%s", run_summary(writer.rows, workdir=workdir, start=start, end=tc.num_steps,
                                   seconds=time.perf_counter() - session_start))
  return job.unplace(state)


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
          f"checkpoints/{end}, metrics.jsonl / .csv, samples/, tb/.")


def signal_name(signum: int | None) -> str:
  return signal.Signals(signum).name if signum else "a signal to another process"
