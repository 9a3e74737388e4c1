"""Fréchet distance between Gaussian fits of two feature sets (FID).

FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})  (Heusel et al.
2017), with (mu, S) the mean and the unbiased (N - 1) covariance of the
features. Everything here runs in float64 whatever the global
`jax_enable_x64` flag says: each public function enters
`jax.enable_x64(True)` itself and returns host values (NumPy arrays, Python
floats), so no float64 jax array leaks into float32 code.

The trace of the matrix square root is computed without a general (non-
symmetric) `sqrtm`: S_1 S_2 is similar to the symmetric PSD matrix
S_1^{1/2} S_2 S_1^{1/2}, so Tr((S_1 S_2)^{1/2}) is the sum of the square roots
of that matrix's eigenvalues (two `eigh` calls, tiny negative eigenvalues from
rounding clipped to 0). This is exact for singular covariances (N <= D) too.

`fid` of two feature sets never forms a D x D square root. With A [N, D] and
B [M, D] the centred features, S_1 = A^T A / (N - 1) and S_2 = B^T B / (M - 1);
the non-zero eigenvalues of A^T A B^T B are those of (A B^T)(A B^T)^T, so
Tr((S_1 S_2)^{1/2}) = ||A B^T||_* / sqrt((N - 1)(M - 1)), the sum of the
singular values of the N x M matrix A B^T. A set with more rows than D is
first reduced to the R of its QR decomposition (R^T R = A^T A), so the matrix
whose singular values are taken is at most min(N, D) x min(M, D): one SVD of
1,000 x 1,000 for 1,000 samples of 2048-d Inception features instead of two
2048 x 2048 eigendecompositions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

ArrayLike = jax.typing.ArrayLike


def _check_features(name: str, features: ArrayLike) -> None:
  shape = np.shape(features)
  if len(shape) != 2:
    raise ValueError(f"{name} must have shape [N, D], got {shape}")
  if shape[0] < 2:
    raise ValueError(f"{name} needs at least 2 rows for a covariance, got {shape}")


@jax.jit
def _statistics(features: jax.Array) -> tuple[jax.Array, jax.Array]:
  n = features.shape[0]
  mu = jnp.mean(features, axis=0)
  centered = features - mu
  sigma = centered.T @ centered / (n - 1)
  return mu, sigma


def _psd_sqrt(matrix: jax.Array) -> jax.Array:
  """Symmetric square root of a symmetric PSD matrix via `eigh`."""
  eigvals, eigvecs = jnp.linalg.eigh(matrix)
  return (eigvecs * jnp.sqrt(jnp.clip(eigvals, 0.0, None))) @ eigvecs.T


@jax.jit
def _trace_sqrt_product(sigma1: jax.Array, sigma2: jax.Array) -> jax.Array:
  root1 = _psd_sqrt(0.5 * (sigma1 + sigma1.T))
  inner = root1 @ sigma2 @ root1
  inner = 0.5 * (inner + inner.T)
  eigvals = jnp.linalg.eigvalsh(inner)
  return jnp.sum(jnp.sqrt(jnp.clip(eigvals, 0.0, None)))


@jax.jit
def _frechet_distance(mu1: jax.Array, sigma1: jax.Array, mu2: jax.Array,
                      sigma2: jax.Array) -> jax.Array:
  diff = mu1 - mu2
  return (diff @ diff + jnp.trace(sigma1) + jnp.trace(sigma2)
          - 2.0 * _trace_sqrt_product(sigma1, sigma2))


def _gram_factor(centered: jax.Array) -> jax.Array:
  """A matrix F [min(N, D), D] with F^T F = centered^T centered: `centered`
  itself, or the R of its QR decomposition when N > D."""
  n, d = centered.shape
  return jnp.linalg.qr(centered, mode="r") if n > d else centered


@jax.jit
def _fid_of_features(x: jax.Array, y: jax.Array) -> jax.Array:
  n, m = x.shape[0], y.shape[0]
  mu1, mu2 = jnp.mean(x, axis=0), jnp.mean(y, axis=0)
  a, b = x - mu1, y - mu2
  singular = jnp.linalg.svd(_gram_factor(a) @ _gram_factor(b).T, compute_uv=False)
  diff = mu1 - mu2
  return (diff @ diff + jnp.sum(a * a) / (n - 1) + jnp.sum(b * b) / (m - 1)
          - 2.0 * jnp.sum(singular) / jnp.sqrt((n - 1.0) * (m - 1.0)))


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
  """Mean and unbiased covariance of a feature set, in float64.

  Args:
    features: [N, D] features (any float dtype), N >= 2.

  Returns:
    `(mu, sigma)`: float64 NumPy arrays of shapes [D] and [D, D]; sigma uses
    the N - 1 normalisation (like `np.cov`). Cache the real set's statistics
    and pass them to `frechet_distance`.

  Raises:
    ValueError: if `features` is not [N, D] with N >= 2.
  """
  _check_features("features", features)
  with jax.enable_x64(True):
    mu, sigma = _statistics(jnp.asarray(features, dtype=jnp.float64))
    return np.asarray(mu), np.asarray(sigma)


def trace_sqrt_product(*, sigma1: ArrayLike, sigma2: ArrayLike) -> float:
  """Tr((sigma1 sigma2)^{1/2}) for symmetric PSD matrices, in float64.

  Args:
    sigma1: [D, D] symmetric PSD matrix.
    sigma2: [D, D] symmetric PSD matrix.

  Returns:
    The trace as a Python float (computed in float64).

  Raises:
    ValueError: if the shapes are not both [D, D].
  """
  s1, s2 = np.shape(sigma1), np.shape(sigma2)
  if len(s1) != 2 or s1[0] != s1[1] or s1 != s2:
    raise ValueError(f"need two [D, D] matrices, got {s1} and {s2}")
  with jax.enable_x64(True):
    return float(_trace_sqrt_product(jnp.asarray(sigma1, dtype=jnp.float64),
                                     jnp.asarray(sigma2, dtype=jnp.float64)))


def frechet_distance(*, mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike,
                     sigma2: ArrayLike) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

  Args:
    mu1: [D] mean of the first set.
    sigma1: [D, D] covariance of the first set (symmetric PSD).
    mu2: [D] mean of the second set.
    sigma2: [D, D] covariance of the second set (symmetric PSD).

  Returns:
    ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}) as a Python
    float. Not clipped: identical inputs give 0 up to float64 rounding (which
    may be a tiny negative number).

  Raises:
    ValueError: if the shapes are inconsistent.
  """
  d = np.shape(mu1)
  if len(d) != 1 or np.shape(mu2) != d:
    raise ValueError(f"mu1 and mu2 must both be [D], got {d} and {np.shape(mu2)}")
  for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
    if np.shape(sigma) != d * 2:
      raise ValueError(f"{name} must be [{d[0]}, {d[0]}], got {np.shape(sigma)}")
  with jax.enable_x64(True):
    as64 = lambda x: jnp.asarray(x, dtype=jnp.float64)
    return float(_frechet_distance(as64(mu1), as64(sigma1), as64(mu2),
                                   as64(sigma2)))


def fid(*, real_features: ArrayLike, fake_features: ArrayLike) -> float:
  """FID between two feature sets (symmetric in its arguments).

  Args:
    real_features: [N, D] features of real samples.
    fake_features: [M, D] features of generated samples.

  Returns:
    The Fréchet distance of the two Gaussian fits, a Python float (float64),
    computed from the features (the module docstring): the same number as
    `frechet_distance` of their `feature_statistics`, without D x D roots.

  Raises:
    ValueError: if a set is not [N, D] with N >= 2 or the D differ.
  """
  _check_features("real_features", real_features)
  _check_features("fake_features", fake_features)
  if np.shape(real_features)[1] != np.shape(fake_features)[1]:
    raise ValueError(f"feature dims differ: {np.shape(real_features)} vs "
                     f"{np.shape(fake_features)}")
  with jax.enable_x64(True):
    return float(_fid_of_features(jnp.asarray(real_features, dtype=jnp.float64),
                                  jnp.asarray(fake_features, dtype=jnp.float64)))
