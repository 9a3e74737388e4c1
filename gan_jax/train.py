"""train_and_evaluate(config, workdir): the GAN trainer (`GANTrainer`), run by
the shared loop of gan_jax/runloop.py.

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

import os
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import compat
from gan_jax import conditioning
from gan_jax import config_checks
from gan_jax import data as data_lib
from gan_jax import evaluation
from gan_jax import guards
from gan_jax import models
from gan_jax import parallel
from gan_jax import runloop
from gan_jax import tricks
from gan_jax import viz
from gan_jax.checkpoints import Checkpointer, load_run_config
from gan_jax.errors import ConfigError, NonFiniteLossError, StopRequested  # noqa: F401
from gan_jax.state import GANState, count_params, create_state
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


def run_record(runner: parallel.StepRunner) -> dict[str, Any]:
  """What decides the float results besides the config (`runloop.device_record`)."""
  return runloop.device_record(runner.num_devices)


class GANJob:
  """One GAN run for `runloop.run`: the dataset, the step (`parallel.StepRunner`:
  one seed or several vmapped, on one device or data-parallel), the evaluator
  (process 0, when `eval.every_steps` > 0) and the sample grid's fixed latents."""

  progress_keys = ("d/loss", "g/loss")
  bounded_fields = guards.BOUNDED_FIELDS

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    parallel.initialize_distributed(config.parallel)
    self.config, self.workdir = config, workdir
    self.dataset = data_lib.get_dataset(config.dataset)
    self.runner = parallel.StepRunner(config, self.dataset)
    self.num_seeds = config.num_seeds
    self.max_param_magnitude = config.train.max_param_magnitude
    chief = jax.process_index() == 0
    self.eval_every = config.eval.every_steps if chief else 0
    self.evaluator = evaluation.Evaluator(config, self.dataset) if self.eval_every else None
    self.latents, self.labels = fixed_latents(config), fixed_labels(config)
    self.real_points = (self.dataset.real_samples(split="train", num=len(self.latents),
                                                  seed=config.seed)
                        if self.dataset.is_toy and chief else None)

  def _first_seed(self, state: GANState) -> GANState:
    return parallel.select_seed(state, 0) if self.num_seeds > 1 else state

  def init_state(self) -> GANState:
    return self.runner.init_state()

  def start_fresh(self, state: GANState) -> GANState:
    if not self.config.warm_start.workdir:
      return state
    if self.num_seeds > 1:
      raise ConfigError("warm_start with num_seeds > 1 is not supported")
    return warm_start(state, self.config, sample_shape=self.dataset.sample_shape)

  def place(self, state: GANState) -> GANState:
    return self.runner.place(state)

  def unplace(self, state: GANState) -> GANState:
    return self.runner.unplace(state)

  def step(self, state: GANState, index: int) -> tuple[GANState, dict[str, jax.Array]]:
    return self.runner(state, index)

  def run_record(self) -> dict[str, Any]:
    return run_record(self.runner)

  def checkpoint_meta(self) -> dict[str, Any]:
    return {"sample_shape": list(self.dataset.sample_shape)}

  def describe(self, state: GANState, *, start: int, num_steps: int) -> str:
    first = self._first_seed(state)
    return (f"G: {count_params(first.g_params)} params, D: {count_params(first.d_params)} "
            f"params; data {self.dataset.name} {self.dataset.sample_shape}; "
            f"{self.runner.backend} on {self.runner.num_devices} device(s), {self.num_seeds} "
            f"seed(s); {num_steps} steps from step {start}")

  def _scores(self, state: GANState) -> dict[str, float]:
    """The evaluator's scores of one seed's state, and with `tricks.ema_candidates`
    each candidate EMA's `eval/` scores as `ema_candidates/<name>/<score>`."""
    scores = dict(self.evaluator(state))
    names = tricks.ema_candidate_names(self.config.tricks.ema_candidates)
    for name, params in zip(names, (state.trick_state or {}).get("ema_candidates", [])):
      candidate = self.evaluator(state.replace(ema_params=params))
      scores.update({f"ema_candidates/{name}/{k[len('eval/'):]}": v
                     for k, v in candidate.items() if k.startswith("eval/")})
    return scores

  def evaluate(self, host_state: GANState) -> tuple[dict[str, float], dict[str, Any]]:
    if self.num_seeds > 1:
      scores = [self._scores(parallel.select_seed(host_state, i))
                for i in range(self.num_seeds)]
    else:
      scores = [self._scores(host_state)]
    return (runloop.per_seed({k: [sc[k] for sc in scores] for k in scores[0]}, self.num_seeds),
            self.evaluator.info)

  def write_samples(self, writer: MetricWriter | None, host_state: GANState, step: int) -> None:
    _log_samples(writer, self._first_seed(host_state), self.latents, self.workdir, step,
                 real=self.real_points, labels=self.labels)

  def write_figures(self, rows: list[dict]) -> None:
    write_figures(self.workdir, rows, title=f"{self.config.objective} / {self.dataset.name}")


class GANTrainer:
  """The GAN trainer (`config.trainer = 'gan'`): every objective, penalty,
  trick and model of gan_jax, configured by gan_jax/configs/base.py."""

  name = "gan"
  resumable_fields = config_checks.RESUMABLE_FIELDS

  def check_config(self, config: ml_collections.ConfigDict) -> None:
    config_checks.validate_config(config)
    models.check_model_config(config.model)
    tricks.parse_ema_candidates(config.tricks.ema_candidates)

  def upgrade_recorded(self, recorded: dict[str, Any]) -> dict[str, Any]:
    return compat.upgrade_recorded(recorded)

  def build(self, config: ml_collections.ConfigDict, workdir: str) -> GANJob:
    return GANJob(config, workdir)

  def describe_config(self, config: ml_collections.ConfigDict) -> str:
    from gan_jax.configs import base  # pylint: disable=g-import-not-at-top
    return "gan_jax/configs/base.py with\n" + config_checks.difference(
        base.get_config().to_dict(), config.to_dict())


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
    what `runloop.run` raises: ConfigError (an invalid field, before anything
    is written; a changed config on resume), WorkdirLockedError,
    NonFiniteLossError, CorruptCheckpointError, StopRequested.
  """
  return runloop.run(GANTrainer(), config, workdir, allow_config_change=allow_config_change)
