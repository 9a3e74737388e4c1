"""Tests for gan_jax.metrics.fid: closed forms, scipy reference, float64."""

import jax
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from gan_jax.metrics import fid


def _random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
  a = rng.normal(size=(dim, dim))
  return a @ a.T / dim + 0.05 * np.eye(dim)


def _reference_fid(x: np.ndarray, y: np.ndarray) -> float:
  """The pytorch-fid / TTUR formula: np.cov + scipy.linalg.sqrtm."""
  mu1, mu2 = x.mean(0), y.mean(0)
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def test_trace_sqrt_product_matches_scipy_sqrtm_in_float64():
  rng = np.random.default_rng(0)
  with jax.enable_x64(False):  # float64 must not depend on the global flag
    for dim in (3, 24, 64):
      s1, s2 = _random_spd(rng, dim), _random_spd(rng, dim)
      expected = np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
      got = fid.trace_sqrt_product(sigma1=s1, sigma2=s2)
      # float32 would be off by ~1e-6 relative.
      np.testing.assert_allclose(got, expected, rtol=1e-11)


def test_feature_statistics_are_float64_with_x64_off():
  rng = np.random.default_rng(1)
  # A large offset: float32 would lose ~4 digits of the covariance.
  x = 1e4 + rng.normal(size=(500, 8))
  with jax.enable_x64(False):
    mu, sigma = fid.feature_statistics(x)
  assert mu.dtype == np.float64 and sigma.dtype == np.float64
  assert mu.shape == (8,) and sigma.shape == (8, 8)
  np.testing.assert_allclose(mu, x.mean(0), rtol=1e-14)
  np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-9,
                             atol=1e-12)


@pytest.mark.parametrize("n,dim", [(500, 32), (40, 64)])  # second: singular S
def test_fid_of_a_set_with_itself_is_zero(n, dim):
  rng = np.random.default_rng(2)
  x = 100.0 * rng.normal(size=(n, dim)) + 5.0
  scale = np.trace(np.cov(x, rowvar=False))
  assert abs(fid.fid(real_features=x, fake_features=x)) < 1e-6 * scale


def test_frechet_distance_closed_form_for_commuting_covariances():
  # S1 = Q A Q^T, S2 = Q B Q^T commute: FID = |dmu|^2 + sum (sqrt a - sqrt b)^2.
  rng = np.random.default_rng(3)
  dim = 10
  q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
  a, b = rng.uniform(0.1, 4.0, dim), rng.uniform(0.1, 4.0, dim)
  mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
  got = fid.frechet_distance(mu1=mu1, sigma1=q @ np.diag(a) @ q.T,
                             mu2=mu2, sigma2=q @ np.diag(b) @ q.T)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_fid_of_gaussian_samples_matches_closed_form():
  rng = np.random.default_rng(4)
  dim, n = 6, 20000
  s1, s2 = _random_spd(rng, dim), _random_spd(rng, dim)  # non-commuting
  mu1, mu2 = np.zeros(dim), np.full(dim, 0.3)
  x = rng.multivariate_normal(mu1, s1, size=n)
  y = rng.multivariate_normal(mu2, s2, size=n)
  got = fid.fid(real_features=x, fake_features=y)
  # Exact: the closed form evaluated at the samples' own statistics.
  np.testing.assert_allclose(got, _reference_fid(x, y), rtol=1e-9)
  # Statistical: the closed form at the known population parameters.
  population = (np.sum((mu1 - mu2) ** 2)
                + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))
  np.testing.assert_allclose(got, population, rtol=0.05)


def test_fid_increases_with_noise():
  rng = np.random.default_rng(5)
  x = rng.normal(size=(2000, 16)) @ rng.normal(size=(16, 16))
  noise = rng.normal(size=x.shape)
  values = [fid.fid(real_features=x, fake_features=x + s * noise)
            for s in (0.0, 0.1, 0.3, 1.0, 3.0)]
  assert abs(values[0]) < 1e-8
  assert np.all(np.diff(values) > 0), values


def test_shape_errors():
  with pytest.raises(ValueError, match="feature dims"):
    fid.fid(real_features=np.zeros((5, 3)), fake_features=np.zeros((5, 4)))
  with pytest.raises(ValueError, match=r"\[N, D\]"):
    fid.feature_statistics(np.zeros(5))
  with pytest.raises(ValueError, match="sigma2"):
    fid.frechet_distance(mu1=np.zeros(3), sigma1=np.eye(3), mu2=np.zeros(3),
                         sigma2=np.eye(4))


@pytest.mark.parametrize("n,m,dim", [(40, 30, 64), (300, 200, 16), (50, 300, 32), (5, 5, 3)])
def test_fid_of_features_equals_the_covariance_form_and_scipy(n, m, dim):
  # Fewer rows than dimensions (singular covariances), more (the QR reduction), mixed.
  rng = np.random.default_rng(n + m + dim)
  mix = rng.normal(size=(dim, dim))
  x = rng.normal(size=(n, dim)) @ mix
  y = rng.normal(size=(m, dim)) @ mix * 1.3 + 0.2
  got = fid.fid(real_features=x, fake_features=y)
  mu1, s1 = fid.feature_statistics(x)
  mu2, s2 = fid.feature_statistics(y)
  covariance_form = fid.frechet_distance(mu1=mu1, sigma1=s1, mu2=mu2, sigma2=s2)
  # With singular covariances (N < D) the D x D roots add the square roots of their
  # rounding-level eigenvalues (3e-8 relative at 40 x 64); the features form has none.
  np.testing.assert_allclose(got, covariance_form, rtol=1e-7)
  np.testing.assert_allclose(got, _reference_fid(x, y), rtol=1e-6)
  a, b = x - x.mean(0), y - y.mean(0)
  by_numpy = (np.sum((x.mean(0) - y.mean(0)) ** 2) + np.sum(a * a) / (n - 1)
              + np.sum(b * b) / (m - 1)
              - 2 * np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt((n - 1) * (m - 1)))
  np.testing.assert_allclose(got, by_numpy, rtol=1e-12)
  assert fid.fid(real_features=y, fake_features=x) == pytest.approx(got, rel=1e-12)
