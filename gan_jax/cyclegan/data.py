"""The two image domains of CycleGAN as deterministic, resumable batch streams.

A domain is the images of a group of classes of one labelled image set
(`gan_jax.data.images.load_images`), e.g. Fashion-MNIST's sneakers (class 7)
as domain A and its ankle boots (class 9) as domain B. Each domain is its own
`gan_jax.data.Dataset`, so a batch is a pure function of (seed, step):
domain A reads the epoch permutations of seed 2*seed, domain B those of
2*seed + 1 (independent orders: the data are unpaired), and a run resumed at
step s sees exactly the batches an uninterrupted run would. The grid images
are the first `num_grid_images` test images of each domain, in file order.
Images are float32 in [-1, 1].
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import ml_collections
import numpy as np

from gan_jax import data as data_lib
from gan_jax.data import images as images_lib


def domain_of(images: np.ndarray, labels: np.ndarray, *, classes: Sequence[int],
              where: str) -> np.ndarray:
  """The images [N, H, W, C] whose label is in `classes`, in their order.

  Raises:
    ValueError: `classes` is empty or names a label the set does not have.
  """
  present = sorted(int(c) for c in np.unique(labels))
  classes = [int(c) for c in classes]
  if not classes or any(c not in present for c in classes):
    raise ValueError(f"{where} = {tuple(classes)}: give one or more of the labels present, "
                     f"{present}")
  return images[np.isin(labels, classes)]


@dataclasses.dataclass(frozen=True)
class Domains:
  """Domain A (X) and domain B (Y).

  Attributes:
    a, b: the training images of each domain, as datasets of `batch_size`.
    grid_a, grid_b: fixed test images [n, H, W, C] in [-1, 1] for the grids.
  """
  a: data_lib.Dataset
  b: data_lib.Dataset
  grid_a: np.ndarray
  grid_b: np.ndarray

  @property
  def sample_shape(self) -> tuple[int, ...]:
    return self.a.sample_shape

  def batches_at(self, step: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The real batches of step `step` (0-based): A and B, each [B, H, W, C]."""
    batch_a = self.a.batch_at(step, seed=2 * seed, num_critic_steps=1)[0]
    batch_b = self.b.batch_at(step, seed=2 * seed + 1, num_critic_steps=1)[0]
    return batch_a, batch_b


def load_domains(config: ml_collections.ConfigDict) -> Domains:
  """Domains A and B of the `data` config block.

  Args:
    config: fields name, source, data_dir, domain_a, domain_b (class lists),
      batch_size, num_grid_images.

  Raises:
    ValueError: an unknown dataset, a class list that is empty, names an
      absent label or shares a class with the other, a non-positive batch
      size, or more grid images than a domain's test split holds.
    DatasetNotFoundError / DatasetIntegrityError: see `images.load_images`.
  """
  if config.batch_size < 1:
    raise ValueError(f"data.batch_size must be >= 1, got {config.batch_size}")
  if config.num_grid_images < 1:
    raise ValueError(f"data.num_grid_images must be >= 1, got {config.num_grid_images}")
  shared = sorted(set(config.domain_a) & set(config.domain_b))
  if shared:
    raise ValueError(f"data.domain_a {tuple(config.domain_a)} and data.domain_b "
                     f"{tuple(config.domain_b)} share the classes {shared}; give disjoint lists")
  splits = {split: images_lib.load_images(config.name, split=split, source=config.source,
                                          data_dir=config.data_dir)
            for split in ("train", "test")}
  domains, grids = {}, {}
  for name in ("a", "b"):
    classes = config[f"domain_{name}"]
    where = f"data.domain_{name}"
    train = domain_of(*splits["train"], classes=classes, where=where)
    test = domain_of(*splits["test"], classes=classes, where=where)
    if len(test) < config.num_grid_images:
      raise ValueError(f"data.num_grid_images = {config.num_grid_images} is more than the "
                       f"{len(test)} test images of {where}")
    domains[name] = data_lib.Dataset(f"{config.name}[{','.join(map(str, classes))}]",
                                     tuple(train.shape[1:]), config.batch_size,
                                     train_images=train)
    grids[name] = data_lib.scale_images(test[:config.num_grid_images])
  if domains["a"].sample_shape != domains["b"].sample_shape:
    raise ValueError(f"the domains' image shapes differ: {domains['a'].sample_shape} vs "
                     f"{domains['b'].sample_shape}")
  return Domains(domains["a"], domains["b"], grids["a"], grids["b"])
