"""Tests for gan_jax.metrics.prdc: improved precision / recall, batched."""

import numpy as np
import pytest
import scipy.spatial.distance

from gan_jax.metrics import prdc


def _brute_radii(x, k):
  d = scipy.spatial.distance.cdist(x, x)
  np.fill_diagonal(d, np.inf)
  return np.sort(d, axis=1)[:, k - 1]


def _brute_precision_recall(real, fake, k=3):
  d = scipy.spatial.distance.cdist(fake, real)  # [M, N]
  precision = np.mean(np.any(d <= _brute_radii(real, k)[None, :], axis=1))
  recall = np.mean(np.any(d.T <= _brute_radii(fake, k)[None, :], axis=1))
  return precision, recall


def _sets(seed=0):
  rng = np.random.default_rng(seed)
  real = rng.normal(size=(303, 8))
  fake = 0.5 + rng.normal(size=(257, 8))
  return real, fake


def test_against_itself_is_exactly_one():
  real, _ = _sets()
  assert prdc.precision_recall(real_features=real, fake_features=real,
                               block_size=64) == (1.0, 1.0)


def test_far_shifted_is_zero():
  real, _ = _sets()
  assert prdc.precision_recall(real_features=real, fake_features=real + 100.0,
                               block_size=64) == (0.0, 0.0)


def test_knn_radii_match_brute_force_and_exclude_self():
  real, _ = _sets()
  real[:4] = real[0]  # four copies: three duplicate neighbours at distance 0
  for block_size in (7, 1024):
    radii = np.asarray(prdc.knn_radii(real, k=3, block_size=block_size))
    np.testing.assert_allclose(radii, _brute_radii(real, 3), rtol=1e-4,
                               atol=1e-3)
    assert np.all(radii[:4] < 1e-3) and np.all(radii[4:] > 0.1)


def test_padding_rows_are_never_neighbours():
  # Features are centred, so zero padding rows sit at the set's mean: put a
  # sample there and make 303 rows (padded to 308 with block_size=7).
  z = np.random.default_rng(2).normal(size=(151, 8))
  x = np.concatenate([z, -z, np.zeros((1, 8))])
  radii = np.asarray(prdc.knn_radii(x, k=3, block_size=7))
  np.testing.assert_allclose(radii, _brute_radii(x, 3), rtol=1e-4)


def test_matches_brute_force_and_block_size_invariant():
  real, fake = _sets()
  expected = _brute_precision_recall(real, fake)
  assert 0.1 < expected[0] < 0.9 and 0.1 < expected[1] < 0.9  # non-trivial
  small = prdc.precision_recall(real_features=real, fake_features=fake,
                                block_size=7)
  large = prdc.precision_recall(real_features=real, fake_features=fake,
                                block_size=1024)
  assert small == large
  np.testing.assert_allclose(small, expected, atol=1e-12)


def test_mode_collapse_has_precision_but_no_recall():
  rng = np.random.default_rng(1)
  real = rng.normal(size=(400, 4))
  fake = 0.1 * rng.normal(size=(400, 4))  # concentrated at the real mode
  precision, recall = prdc.precision_recall(real_features=real,
                                            fake_features=fake)
  assert precision > 0.95 and recall < 0.2


def test_shape_errors():
  with pytest.raises(ValueError, match="more than k"):
    prdc.precision_recall(real_features=np.zeros((3, 2)),
                          fake_features=np.zeros((10, 2)))
  with pytest.raises(ValueError, match="feature dims"):
    prdc.precision_recall(real_features=np.zeros((10, 2)),
                          fake_features=np.zeros((10, 3)))
