"""train_and_evaluate(config, workdir): the CycleGAN trainer (`CycleGANTrainer`),
run by the shared loop of gan_jax/runloop.py (lock, resume, config record and
history, provenance, checkpoints with pending metrics, guards, cadence).

It writes into `workdir`:
  config.json                 the run's config; on resume a change outside
                              RESUMABLE_FIELDS is refused (--allow_config_change
                              resumes anyway and keeps the old one in config_history/)
  checkpoints/<step>/         orbax checkpoints of the whole CycleGANState
                              (`gan_jax.checkpoints.Checkpointer`, with digests)
  metrics.jsonl / .csv, tb/   the step metrics (`steps` module docstring),
                              means over each `train.log_every` steps, with
                              perf/steps_per_sec and wall time
  samples/translation_<step>.png   the translation grid (`save_translation_grid`)
                              every `train.sample_every` steps and at the end
  provenance.json             per start / resume: command line, packages, commit
  .lock                       while a process trains into it
A resumed run continues exactly as an uninterrupted one: the batches are a
pure function of (seed, step) (`cyclegan.data`) and the step's keys of
(rng, step).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections
import numpy as np

from gan_jax import config_checks
from gan_jax import runloop
from gan_jax import viz
from gan_jax.configs import cyclegan as cyclegan_config
from gan_jax.cyclegan import data
from gan_jax.cyclegan import steps
from gan_jax.cyclegan.state import CycleGANState, create_state
from gan_jax.errors import ConfigError
from gan_jax.writers import MetricWriter

# Fields a resumed run may change: they decide how long and what is written, not the steps.
RESUMABLE_FIELDS = config_checks.LOG_FIELDS | frozenset({
    "train.num_steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
    "train.max_checkpoints", "train.progress_bar", "train.max_param_magnitude"})
GRID_ROWS = ("a", "g_a", "f_g_a", "b", "f_b", "g_f_b")  # keys of `steps.translate`
GRID_SCALE = 4  # pixels per image pixel in the PNG


def check_train_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for a `train` field out of range (num_steps >= 1, the
  intervals >= 1, max_checkpoints >= 1, max_param_magnitude >= 0)."""
  t = config.train
  for name in ("num_steps", "log_every", "sample_every", "checkpoint_every", "max_checkpoints"):
    if not isinstance(t[name], int) or t[name] < 1:
      raise ConfigError(f"train.{name} must be an integer >= 1, got {t[name]!r}")
  if not t.max_param_magnitude >= 0:
    raise ConfigError(f"train.max_param_magnitude must be >= 0, got {t.max_param_magnitude!r}")


def save_translation_grid(path: str, images: dict[str, np.ndarray]) -> None:
  """Writes the translation grid PNG: six rows of n images in [-1, 1],
  (input A; G(A); F(G(A)); input B; F(B); G(F(B))), each [n, H, W, C]."""
  rows = [np.asarray(images[k]) for k in GRID_ROWS]
  viz.save_image_grid(path, np.concatenate(rows), num_cols=len(rows[0]), scale=GRID_SCALE)


def _count(tree: Any) -> int:
  return sum(int(np.size(x)) for x in jax.tree.leaves(tree))


class CycleGANJob:
  """One CycleGAN run for `runloop.run`: both domains' data, the four networks'
  state and the jitted step. No evaluation during training
  (`python -m gan_jax.cyclegan.evaluate` scores a finished run)."""

  num_seeds = 1
  eval_every = 0
  progress_keys = ("g/loss", "d_x/loss", "d_y/loss")
  bounded_fields = ("g_params", "f_params", "d_x_params", "d_y_params")

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    self.config, self.workdir = config, workdir
    self.domains = data.load_domains(config.data)
    self.max_param_magnitude = config.train.max_param_magnitude
    self._step = steps.jit_train_step(config)  # checks the loss fields
    self._translate = jax.jit(steps.translate)
    self._init = create_state(config, sample_shape=self.domains.sample_shape)  # checks the pool

  def init_state(self) -> CycleGANState:
    return self._init

  def start_fresh(self, state: CycleGANState) -> CycleGANState:
    return state

  def place(self, state: CycleGANState) -> CycleGANState:
    return state

  def unplace(self, state: CycleGANState) -> CycleGANState:
    return jax.device_get(state)

  def step(self, state: CycleGANState, index: int) -> tuple[CycleGANState, dict[str, Any]]:
    batch_a, batch_b = self.domains.batches_at(index, seed=self.config.seed)
    return self._step(state, batch_a, batch_b)

  def run_record(self) -> dict[str, Any]:
    return runloop.device_record(num_devices=1)

  def checkpoint_meta(self) -> dict[str, Any]:
    return {"sample_shape": list(self.domains.sample_shape)}

  def describe(self, state: CycleGANState, *, start: int, num_steps: int) -> str:
    return (f"CycleGAN {self.domains.a.name} -> {self.domains.b.name}: G and F "
            f"{_count(state.g_params)} params each, D_X and D_Y {_count(state.d_x_params)} "
            f"each; batch {self.config.data.batch_size}; {num_steps} steps from step {start}")

  def evaluate(self, host_state: CycleGANState) -> tuple[dict[str, float], dict[str, Any]]:
    raise NotImplementedError("CycleGAN is scored after training: gan_jax.cyclegan.evaluate")

  def write_samples(self, writer: MetricWriter | None, host_state: CycleGANState,
                    step: int) -> None:
    images = jax.device_get(self._translate(host_state, self.domains.grid_a,
                                            self.domains.grid_b))
    os.makedirs(os.path.join(self.workdir, "samples"), exist_ok=True)
    save_translation_grid(os.path.join(self.workdir, "samples",
                                       f"translation_{step:06d}.png"), images)

  def write_figures(self, rows: list[dict]) -> None:
    viz.plot_curves(os.path.join(self.workdir, "curves.png"), rows,
                    title=f"CycleGAN {self.domains.a.name} <-> {self.domains.b.name}")


class CycleGANTrainer:
  """The CycleGAN trainer (`config.trainer = 'cyclegan'`; gan_jax/configs/cyclegan.py)."""

  name = "cyclegan"
  resumable_fields = RESUMABLE_FIELDS

  def check_config(self, config: ml_collections.ConfigDict) -> None:
    check_train_config(config)

  def upgrade_recorded(self, recorded: dict[str, Any]) -> dict[str, Any]:
    return config_checks.fill_defaults(recorded, cyclegan_config.get_config().to_dict())

  def build(self, config: ml_collections.ConfigDict, workdir: str) -> CycleGANJob:
    return CycleGANJob(config, workdir)

  def describe_config(self, config: ml_collections.ConfigDict) -> str:
    return "gan_jax/configs/cyclegan.py with\n" + config_checks.difference(
        cyclegan_config.get_config().to_dict(), config.to_dict())


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       allow_config_change: bool = False) -> CycleGANState:
  """Trains CycleGAN (resuming if `workdir` has checkpoints); returns the
  final state (host arrays).

  Raises:
    ConfigError: a field out of range, a changed config on resume, or a
      workdir already past train.num_steps.
    ValueError: a bad data, model, loss or pool field (see `cyclegan.data`,
      `cyclegan.state`, `cyclegan.steps`).
    WorkdirLockedError: another live process trains into `workdir`.
    NonFiniteLossError: a metric or the state became non-finite (or too large).
    CorruptCheckpointError: the latest checkpoint cannot be restored.
    StopRequested: SIGTERM / SIGINT; the step in progress was checkpointed.
  """
  return runloop.run(CycleGANTrainer(), config, workdir, allow_config_change=allow_config_change)
