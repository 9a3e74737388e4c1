"""Samples from a trained run's checkpoint, without its dataset.

  python -m gan_jax.sample --workdir=RUN --num=1000 --out=samples.npz
  python -m gan_jax.sample --workdir=RUN --num=64 --out=pngs/       # one PNG per sample
  python -m gan_jax.sample --workdir=RUN --interpolate=8 --out=interpolation.png

G's EMA is used when the run keeps one (as for the run's own grids and
scores). The sample shape comes from the checkpoint's meta record; a
checkpoint written before that record existed falls back to loading the
run's dataset. `--step` picks another checkpoint; `--seed` the latents. The
.npz holds `samples` [N, *sample_shape] in the generator's range ([-1, 1]
for images) and `latents` [N, latent_dim]. For 2-D toys a folder output is
one scatter plot. A class-conditional run's samples ask for the classes in
contiguous equal blocks (a 100-sample grid of 10 classes: a class per row; an
interpolation: row r of class r mod C), or all for `--label`; the .npz then
also holds `labels` [N].
"""

from __future__ import annotations

import os

from absl import flags
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import cli
from gan_jax import conditioning
from gan_jax import viz
from gan_jax.checkpoints import Checkpointer, load_run_config
from gan_jax.state import GANState, create_state

INTERPOLATION_COLUMNS = 10


def restore_run(workdir: str, *, step: int | None = None
                ) -> tuple[GANState, ml_collections.ConfigDict, tuple[int, ...]]:
  """(state, config, sample_shape) of a run's checkpoint (default: latest).

  Raises:
    FileNotFoundError: no config.json or no such checkpoint.
    CorruptCheckpointError: the checkpoint fails its digest or cannot be read.
  """
  config = load_run_config(workdir)
  checkpointer = Checkpointer(workdir, max_to_keep=max(config.train.max_checkpoints, 1))
  try:
    shape = checkpointer.read_meta(step).get("sample_shape")
    if shape is None:  # written before checkpoints recorded it: ask the dataset
      from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
      shape = data_lib.get_dataset(config.dataset).sample_shape
    shape = tuple(int(s) for s in shape)
    state = checkpointer.restore(create_state(config, sample_shape=shape), step=step)
  finally:
    checkpointer.close()
  return state, config, shape


def generate(state: GANState, latents: np.ndarray, *, batch_size: int,
             labels: np.ndarray | None = None) -> np.ndarray:
  """G(latents) [N, ...] (G(latents, labels) of a class-conditional G) in
  batches of `batch_size` (host float32)."""
  fn = jax.jit(lambda s, z, y: s.generate(z, y))
  return np.concatenate([
      np.asarray(fn(state, latents[i:i + batch_size],
                    None if labels is None else labels[i:i + batch_size]))
      for i in range(0, len(latents), batch_size)])


def sample_labels(config: ml_collections.ConfigDict, num: int, *, label: int = -1,
                  rows: int = 0) -> np.ndarray | None:
  """The classes a conditional run's `num` samples ask for (None if the run is
  unconditional): all `label` if >= 0, else row r of `rows` interpolation rows
  class r mod C, else contiguous equal blocks.

  Raises:
    ValueError: `label` outside the run's classes, or given for an
      unconditional run.
  """
  num_classes = conditioning.num_classes(config.conditioning)
  if not num_classes:
    if label >= 0:
      raise ValueError("--label needs a class-conditional run; this one is unconditional")
    return None
  if label >= num_classes:
    raise ValueError(f"--label={label}: the run's classes are 0 ... {num_classes - 1}")
  if label >= 0:
    return np.full((num,), label, np.int32)
  if rows:
    return np.repeat(np.arange(rows) % num_classes, num // rows).astype(np.int32)
  return conditioning.grid_labels(num, num_classes)


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation between latents a, b [D] at fractions t [T] -> [T, D]
  (the path Gaussian latents keep their norm along; linear when a, b are parallel)."""
  cos = jnp.dot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b))
  omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
  t = t[:, None]
  linear = (1 - t) * a + t * b
  safe = jnp.where(omega > 1e-6, omega, 1.0)
  spherical = (jnp.sin((1 - t) * safe) * a + jnp.sin(t * safe) * b) / jnp.sin(safe)
  return jnp.where(omega > 1e-6, spherical, linear)


def interpolation_latents(*, seed: int, rows: int, latent_dim: int,
                          columns: int = INTERPOLATION_COLUMNS) -> np.ndarray:
  """[rows * columns, latent_dim]: row r runs from one random latent to another."""
  ends = jax.random.normal(jax.random.PRNGKey(seed), (rows, 2, latent_dim))
  t = jnp.linspace(0.0, 1.0, columns)
  return np.asarray(jnp.concatenate([slerp(e[0], e[1], t) for e in ends]))


def export(workdir: str, *, out: str, num: int = 64, interpolate: int = 0, seed: int = 0,
           step: int | None = None, label: int = -1) -> str:
  """Writes samples of `workdir`'s run to `out` (see the module docstring); returns
  a one-line summary.

  Raises:
    ValueError: num < 1 or interpolate < 0.
  """
  if num < 1 or interpolate < 0:
    raise ValueError(f"--num must be >= 1 and --interpolate >= 0, got {num} and {interpolate}")
  state, config, shape = restore_run(workdir, step=step)
  latent_dim = config.model.latent_dim
  if interpolate:
    latents = interpolation_latents(seed=seed, rows=interpolate, latent_dim=latent_dim)
  else:
    latents = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (num, latent_dim)))
  labels = sample_labels(config, len(latents), label=label, rows=interpolate)
  samples = generate(state, latents, batch_size=config.eval.batch_size, labels=labels)
  where = f"step {int(np.ravel(state.step)[0])} of {workdir}"
  if out.endswith(".npz"):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez_compressed(out, samples=samples, latents=latents,
                        **({} if labels is None else {"labels": labels}))
    return f"{len(samples)} samples {samples.shape[1:]} of {where} -> {out}"
  if interpolate or out.endswith(".png"):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if len(shape) == 1:
      viz.save_scatter(out, samples, title=where)
    else:
      viz.save_image_grid(out, samples, num_cols=INTERPOLATION_COLUMNS if interpolate else None)
    return f"{len(samples)} samples of {where} -> {out}"
  os.makedirs(out, exist_ok=True)
  if len(shape) == 1:
    viz.save_scatter(os.path.join(out, "samples.png"), samples, title=where)
    return f"{len(samples)} 2-D samples of {where} -> {out}/samples.png"
  for i, image in enumerate(samples):
    viz.save_image_grid(os.path.join(out, f"sample_{i:05d}.png"), image[None], scale=1, pad=0)
  return f"{len(samples)} samples of {where} -> {out}/sample_*.png"


def main(argv):
  from absl import app  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  print(export(f.workdir, out=f.out, num=f.num, interpolate=f.interpolate, seed=f.seed,
               step=f.step, label=f.label))


def define_flags() -> None:
  """--workdir, --out, --num, --interpolate, --seed, --step, --label."""
  flags.DEFINE_string("workdir", None, "Run folder with config.json and checkpoints.")
  flags.DEFINE_string("out", None, "samples.npz, a folder for PNGs, or a .png grid.")
  flags.DEFINE_integer("num", 64, "Number of samples.")
  flags.DEFINE_integer("interpolate", 0, "> 0: rows of a latent interpolation grid "
                       f"({INTERPOLATION_COLUMNS} columns) instead.")
  flags.DEFINE_integer("seed", 0, "Seed of the latents.")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
  flags.DEFINE_integer("label", -1, "Class-conditional runs: every sample of this class "
                       "(-1: the classes in equal blocks).")
  flags.mark_flags_as_required(["workdir", "out"])


def run_program() -> None:
  """The `gan-jax-sample` entry point."""
  from absl import app  # pylint: disable=g-import-not-at-top
  define_flags()
  app.run(cli.user_errors_as_one_line(main), flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run_program()
