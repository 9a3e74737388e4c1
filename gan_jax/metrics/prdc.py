"""Improved precision and recall (Kynkäänniemi et al. 2019), batched.

Each feature set approximates its manifold by the union of balls centred on
its samples, the radius of a ball being the distance to that sample's k-th
nearest neighbour in the same set (itself excluded; k = 3 as in the paper).

  precision = fraction of fake samples inside the real manifold,
  recall    = fraction of real samples inside the fake manifold,

a point being inside when its distance to some centre is <= that centre's
radius (as in the reference code).

Memory: nothing of size N x N is ever held. Squared distances are computed in
[block_size, block_size] tiles (||x||^2 - 2 x.y + ||y||^2, float32 matmul at
HIGHEST precision, on features centred by the real mean to limit
cancellation): the k-NN pass keeps a running k smallest per row
(`lax.top_k` of negatives), the membership pass a running `any` per row, each
a `lax.scan` over column tiles inside one jitted function. Results do not
depend on `block_size` (up to float rounding of the distances).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

ArrayLike = jax.typing.ArrayLike


class PrecisionRecall(NamedTuple):
  """Improved precision and recall, both in [0, 1]."""
  precision: float
  recall: float


def _tiles(x: jax.Array, block: int, fill: float = 0.0) -> jax.Array:
  """Pads axis 0 to a multiple of `block`: [N, ...] -> [B, block, ...]."""
  n = x.shape[0]
  num_blocks = -(-n // block)
  pad = [(0, num_blocks * block - n)] + [(0, 0)] * (x.ndim - 1)
  x = jnp.pad(x, pad, constant_values=fill)
  return x.reshape((num_blocks, block) + x.shape[1:])


def _sq_dists(x: jax.Array, x_sq: jax.Array, y: jax.Array,
              y_sq: jax.Array) -> jax.Array:
  """[b, c] squared Euclidean distances from [b, D] rows to [c, D] rows."""
  cross = jnp.matmul(x, y.T, precision=lax.Precision.HIGHEST)
  return jnp.maximum(x_sq[:, None] - 2.0 * cross + y_sq[None, :], 0.0)


@functools.partial(jax.jit, static_argnames=("k", "block_size"))
def _knn_sq_radii(features: jax.Array, k: int, block_size: int) -> jax.Array:
  """[N] squared distance of each row to its k-th nearest other row."""
  n = features.shape[0]
  sq = jnp.sum(features * features, axis=1)
  xs, sqs = _tiles(features, block_size), _tiles(sq, block_size)
  ids = _tiles(jnp.arange(n), block_size, fill=-1)  # -1 marks padding

  def row_block(row):
    x_r, sq_r, id_r = row

    def col_block(best, col):
      x_c, sq_c, id_c = col
      dist = _sq_dists(x_r, sq_r, x_c, sq_c)
      excluded = (id_r[:, None] == id_c[None, :]) | (id_c[None, :] < 0)
      dist = jnp.where(excluded, jnp.inf, dist)
      neg_smallest, _ = lax.top_k(-jnp.concatenate([best, dist], axis=1), k)
      return -neg_smallest, None

    init = jnp.full((block_size, k), jnp.inf, features.dtype)
    best, _ = lax.scan(col_block, init, (xs, sqs, ids))
    return best[:, k - 1]  # top_k sorts: column k-1 is the k-th smallest

  return lax.map(row_block, (xs, sqs, ids)).reshape(-1)[:n]


@functools.partial(jax.jit, static_argnames=("block_size",))
def _inside_any_ball(queries: jax.Array, centres: jax.Array,
                     sq_radii: jax.Array, block_size: int) -> jax.Array:
  """[M] bool: query i lies within sq_radii[j] of some centre j."""
  m = queries.shape[0]
  qs = _tiles(queries, block_size)
  q_sqs = _tiles(jnp.sum(queries * queries, axis=1), block_size)
  cs = _tiles(centres, block_size)
  c_sqs = _tiles(jnp.sum(centres * centres, axis=1), block_size)
  # Padded centres get radius -inf: they contain nothing.
  radii = _tiles(sq_radii, block_size, fill=-jnp.inf)

  def row_block(row):
    q, q_sq = row

    def col_block(inside, col):
      c, c_sq, r = col
      dist = _sq_dists(q, q_sq, c, c_sq)
      return inside | jnp.any(dist <= r[None, :], axis=1), None

    inside, _ = lax.scan(col_block, jnp.zeros((block_size,), bool),
                         (cs, c_sqs, radii))
    return inside

  return lax.map(row_block, (qs, q_sqs)).reshape(-1)[:m]


def _check(name: str, features: ArrayLike, k: int) -> None:
  shape = np.shape(features)
  if len(shape) != 2:
    raise ValueError(f"{name} must have shape [N, D], got {shape}")
  if shape[0] <= k:
    raise ValueError(f"{name} needs more than k={k} rows, got {shape}")


def _block(n: int, block_size: int) -> int:
  if block_size < 1:
    raise ValueError(f"block_size must be >= 1, got {block_size}")
  return min(block_size, n)


def knn_radii(features: ArrayLike, *, k: int = 3,
              block_size: int = 1024) -> jax.Array:
  """Distance of each sample to its k-th nearest neighbour in the same set.

  Args:
    features: [N, D] features, N > k.
    k: neighbourhood size (self excluded; duplicates count as neighbours).
    block_size: rows and columns per distance tile.

  Returns:
    [N] float32 Euclidean radii.

  Raises:
    ValueError: if `features` is not [N, D] with N > k, or block_size < 1.
  """
  _check("features", features, k)
  x = jnp.asarray(features, dtype=jnp.float32)
  x = x - jnp.mean(x, axis=0)
  return jnp.sqrt(_knn_sq_radii(x, k, _block(x.shape[0], block_size)))


def precision_recall(*, real_features: ArrayLike, fake_features: ArrayLike,
                     k: int = 3, block_size: int = 1024) -> PrecisionRecall:
  """Improved precision and recall of fake features against real features.

  Args:
    real_features: [N, D] features of real samples, N > k.
    fake_features: [M, D] features of generated samples, M > k.
    k: neighbourhood size for the manifold radii (3 in the paper).
    block_size: rows and columns per distance tile; memory is
      O(block_size^2 + (N + M) D).

  Returns:
    `PrecisionRecall(precision, recall)` as Python floats.

  Raises:
    ValueError: on bad shapes, N or M <= k, or block_size < 1.
  """
  _check("real_features", real_features, k)
  _check("fake_features", fake_features, k)
  if np.shape(real_features)[1] != np.shape(fake_features)[1]:
    raise ValueError(f"feature dims differ: {np.shape(real_features)} vs "
                     f"{np.shape(fake_features)}")
  real = jnp.asarray(real_features, dtype=jnp.float32)
  fake = jnp.asarray(fake_features, dtype=jnp.float32)
  centre = jnp.mean(real, axis=0)  # distances are shift-invariant
  real, fake = real - centre, fake - centre
  block_real = _block(real.shape[0], block_size)
  block_fake = _block(fake.shape[0], block_size)
  real_sq_radii = _knn_sq_radii(real, k, block_real)
  fake_sq_radii = _knn_sq_radii(fake, k, block_fake)
  block = min(block_real, block_fake)
  fake_inside = _inside_any_ball(fake, real, real_sq_radii, block)
  real_inside = _inside_any_ball(real, fake, fake_sq_radii, block)
  return PrecisionRecall(
      precision=int(jnp.sum(fake_inside)) / fake.shape[0],
      recall=int(jnp.sum(real_inside)) / real.shape[0])
