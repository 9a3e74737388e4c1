"""Training data as an infinite, deterministic, resumable stream of batches.

`get_dataset(config.dataset)` returns a `Dataset`. Its `batches(seed=...,
num_critic_steps=k, start_step=s)` yields, for generator steps s, s+1, ...,
float32 arrays [k, B, *sample_shape]: one real batch for each critic step
(`batch_at(..., with_labels=True)` adds their class labels [k, B]).
Images are scaled to [-1, 1]. The order depends only on (seed, position), so a
run resumed at step s sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import jax
import ml_collections
import numpy as np

from gan_jax import config_checks
from gan_jax.data import images as images_lib
from gan_jax.data import toy2d
from gan_jax.data.images import DatasetIntegrityError, DatasetNotFoundError  # noqa: F401


def scale_images(images: np.ndarray) -> np.ndarray:
  """uint8 [..., H, W, C] in [0, 255] -> float32 in [-1, 1]."""
  return images.astype(np.float32) / 127.5 - 1.0


def epoch_permutation(num_examples: int, *, seed: int, epoch: int) -> np.ndarray:
  """The shuffled order of one epoch; a pure function of (seed, epoch)."""
  return np.random.default_rng((seed, epoch)).permutation(num_examples)


@dataclasses.dataclass
class Dataset:
  """A dataset held in host memory (images) or generated on the fly (2-D toys).

  Attributes:
    name: registry name.
    sample_shape: shape of one sample, e.g. (28, 28, 1) or (2,).
    batch_size: examples per critic step.
    train_images: uint8 [N, H, W, C] for image data, None for toys.
    train_labels: int32 [N] or None.
  """
  name: str
  sample_shape: tuple[int, ...]
  batch_size: int
  train_images: np.ndarray | None = None
  train_labels: np.ndarray | None = None
  _config: ml_collections.ConfigDict | None = None

  @property
  def is_toy(self) -> bool:
    return self.train_images is None

  def batches(self, *, seed: int, num_critic_steps: int,
              start_step: int = 0) -> Iterator[np.ndarray]:
    """Infinite iterator of float32 [num_critic_steps, B, *sample_shape]."""
    step = start_step
    while True:
      yield self.batch_at(step, seed=seed, num_critic_steps=num_critic_steps)
      step += 1

  def batch_at(self, step: int, *, seed: int, num_critic_steps: int,
               shard: tuple[int, int] = (0, 1), with_labels: bool = False):
    """The real data for generator step `step`: [num_critic_steps, B / n, ...],
    with `with_labels` the pair (that, int32 labels [num_critic_steps, B / n])
    for class-conditional GANs (the same images either way).

    With `shard = (i, n)` only host i's contiguous 1/n of each global batch
    is read (multi-host data parallelism); (0, 1) is the whole batch.

    Raises:
      ValueError: labels asked of a dataset without them (toys, CelebA).
    """
    if with_labels and (self.is_toy or self.train_labels is None
                        or np.any(self.train_labels < 0)):
      raise ValueError(f"{self.name} has no class labels, so it cannot train a "
                       "class-conditional GAN; use conditioning.method='none'")
    k, b = num_critic_steps, self.batch_size
    index, count = shard
    if b % count:
      raise ValueError(f"batch {b} does not divide over {count} shards")
    if self.is_toy:
      key = jax.random.fold_in(jax.random.PRNGKey(seed), step)
      batch = np.asarray(toy2d.sample(self.name, key=key, num=k * b)).reshape(k, b, 2)
      return batch[:, index * b // count:(index + 1) * b // count]
    n = len(self.train_images)
    local = b // count
    positions = (step * k * b + np.arange(k)[:, None] * b + index * local
                 + np.arange(local)[None, :]).reshape(-1)
    epochs, offsets = np.divmod(positions, n)
    rows = np.empty_like(positions)
    for epoch in np.unique(epochs):
      mask = epochs == epoch
      rows[mask] = epoch_permutation(n, seed=seed, epoch=int(epoch))[offsets[mask]]
    images = scale_images(self.train_images[rows]).reshape(k, local, *self.sample_shape)
    if with_labels:
      return images, self.train_labels[rows].astype(np.int32).reshape(k, local)
    return images

  def real_samples(self, *, split: str, num: int, seed: int = 0, with_labels: bool = False):
    """`num` real samples of a split, float32 [num, *sample_shape] in [-1, 1]
    (the first `num` of a fixed shuffle; toys: fresh draws from `seed`); with
    `with_labels`, the pair (those, their int32 labels [num]) (not for toys)."""
    if self.is_toy:
      key = jax.random.PRNGKey(seed + (0 if split == "train" else 1_000_003))
      return np.asarray(toy2d.sample(self.name, key=key, num=num))
    images, labels = self.load_split(split)
    if num > len(images):
      raise ValueError(f"asked for {num} samples of {self.name}/{split}, which has {len(images)}")
    # An "epoch" number no training run reaches, so the order is its own.
    order = epoch_permutation(len(images), seed=seed, epoch=2**62 + (split == "test"))
    if with_labels:
      return scale_images(images[order[:num]]), labels[order[:num]].astype(np.int32)
    return scale_images(images[order[:num]])

  def load_split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images and int32 labels of a split (train is cached)."""
    if self.is_toy:
      raise ValueError(f"{self.name} is a generated 2-D distribution without splits")
    if split == "train":
      return self.train_images, self.train_labels
    cfg = self._config
    return images_lib.load_images(cfg.name, split=split, source=cfg.source,
                                  data_dir=cfg.data_dir)


def dataset_names() -> list[str]:
  return sorted(images_lib.IMAGE_LOADERS.names() + toy2d.TOYS.names())


def get_dataset(config: ml_collections.ConfigDict) -> Dataset:
  """Builds the dataset named by `config.name` (the `dataset` config block).

  Raises:
    ValueError: unknown name (listing valid names) or a non-positive batch size.
    DatasetNotFoundError / DatasetIntegrityError: see `images.load_images`.
  """
  config_checks.check_block(config, config_checks.block_rules("dataset"), where="dataset")
  if config.name in toy2d.TOYS:
    return Dataset(config.name, (2,), config.batch_size, _config=config)
  if config.name not in images_lib.IMAGE_LOADERS:
    raise ValueError(f"Unknown dataset {config.name!r}; valid choices: "
                     f"{', '.join(dataset_names())}")
  images, labels = images_lib.load_images(config.name, split="train", source=config.source,
                                          data_dir=config.data_dir)
  if config.num_train_examples:
    images, labels = images[:config.num_train_examples], labels[:config.num_train_examples]
  return Dataset(config.name, tuple(images.shape[1:]), config.batch_size,
                 train_images=images, train_labels=labels, _config=config)
