"""Kernel Inception Distance (Binkowski et al. 2018), the unbiased estimator.

KID is the squared MMD between the two feature distributions under the cubic
polynomial kernel k(x, y) = (x . y / D + 1)^3. On subsets X, Y of m samples
each, the unbiased estimator is

  MMD^2_u = sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] / (m (m - 1))
            - 2 sum_{i, j} k(x_i, y_j) / m^2,

which can be slightly negative when the distributions agree. As in the
reference code (and torch-fidelity), it is averaged over `n_subsets` pairs of
subsets of `subset_size` samples, each drawn without replacement and
independently for the two sets; the result is the mean and the (population,
ddof=0) standard deviation over subsets.

Precision: the Gram matrices x . y are float32 matmuls at HIGHEST precision
(no TF32/bf16 on accelerators); the kernel and the sums are float64 whatever
the global `jax_enable_x64` flag says.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

ArrayLike = jax.typing.ArrayLike


def _unbiased_mmd2(x: jax.Array, y: jax.Array) -> jax.Array:
  """Unbiased MMD^2 with the cubic kernel; x, y: [m, D] float32 -> float64."""
  m, dim = x.shape
  gram = lambda a, b: jnp.matmul(
      a, b.T, precision=jax.lax.Precision.HIGHEST).astype(jnp.float64)
  kernel = lambda g: (g / dim + 1.0) ** 3
  k_xx, k_yy, k_xy = kernel(gram(x, x)), kernel(gram(y, y)), kernel(gram(x, y))
  off_diag_sum = lambda k: jnp.sum(k) - jnp.sum(jnp.diagonal(k))
  return ((off_diag_sum(k_xx) + off_diag_sum(k_yy)) / (m * (m - 1))
          - 2.0 * jnp.sum(k_xy) / (m * m))


@functools.partial(jax.jit, static_argnames=("subset_size",))
def _subset_mmd2s(features_a: jax.Array, features_b: jax.Array,
                  keys: jax.Array, subset_size: int) -> jax.Array:
  """[n_subsets] unbiased MMD^2 estimates on random subset pairs."""
  def one_subset(key: jax.Array) -> jax.Array:
    key_a, key_b = jax.random.split(key)
    idx_a = jax.random.choice(key_a, features_a.shape[0], (subset_size,),
                              replace=False)
    idx_b = jax.random.choice(key_b, features_b.shape[0], (subset_size,),
                              replace=False)
    return _unbiased_mmd2(features_a[idx_a], features_b[idx_b])
  return jax.lax.map(one_subset, keys)


def kid(*, real_features: ArrayLike, fake_features: ArrayLike,
        n_subsets: int = 100, subset_size: int = 1000,
        key: jax.Array | int = 0) -> tuple[float, float]:
  """KID (unbiased MMD^2, cubic polynomial kernel) averaged over subsets.

  Args:
    real_features: [N, D] features of real samples.
    fake_features: [M, D] features of generated samples.
    n_subsets: number of subset pairs averaged (100 as in torch-fidelity).
    subset_size: samples per subset, 2 <= subset_size <= min(N, M). With
      `n_subsets=1, subset_size=N=M` the result is the estimator on the full
      sets.
    key: PRNG key or integer seed choosing the subsets; the result is a
      deterministic function of it.

  Returns:
    `(mean, std)` over subsets as Python floats; std uses ddof=0. The mean is
    the KID (often reported x 1e3); it may be slightly negative. A set
    compared with itself gives a small negative value, not 0: subsets drawn
    independently from one set share samples, and each shared sample adds a
    large k(x, x) to the cross term.

  Raises:
    ValueError: on bad shapes or a subset size that does not fit.
  """
  shape_a, shape_b = np.shape(real_features), np.shape(fake_features)
  if len(shape_a) != 2 or len(shape_b) != 2 or shape_a[1] != shape_b[1]:
    raise ValueError(f"need [N, D] and [M, D] features, got {shape_a} and {shape_b}")
  if not 2 <= subset_size <= min(shape_a[0], shape_b[0]):
    raise ValueError(f"subset_size must be in [2, min(N, M)] = "
                     f"[2, {min(shape_a[0], shape_b[0])}], got {subset_size}")
  if n_subsets < 1:
    raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
  if isinstance(key, (int, np.integer)):
    key = jax.random.key(key)
  keys = jax.random.split(key, n_subsets)
  with jax.enable_x64(True):
    mmd2s = np.asarray(_subset_mmd2s(
        jnp.asarray(real_features, dtype=jnp.float32),
        jnp.asarray(fake_features, dtype=jnp.float32), keys, subset_size))
  return float(np.mean(mmd2s)), float(np.std(mmd2s))


def kid_with_spread(*, real_features: ArrayLike, fake_features: ArrayLike,
                    max_subset_size: int = 1000, n_subsets: int = 100,
                    key: jax.Array | int = 0) -> dict[str, float]:
  """{'kid': mean[, 'kid_std': std]} on subsets of min(max_subset_size, N, M).

  'kid_std' is there only when the subsets are smaller than both sets. When a
  subset is a whole set, every subset is a permutation of it and gives the
  same value, so the std over subsets is 0 up to rounding and says nothing
  about the estimate's uncertainty. The mean is then the estimator on the
  full sets.
  """
  n, m = np.shape(real_features)[0], np.shape(fake_features)[0]
  subset = min(max_subset_size, n, m)
  mean, std = kid(real_features=real_features, fake_features=fake_features,
                  n_subsets=n_subsets, subset_size=subset, key=key)
  return {"kid": mean, **({"kid_std": std} if subset < min(n, m) else {})}
