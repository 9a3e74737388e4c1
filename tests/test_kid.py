"""Tests for gan_jax.metrics.kid: brute-force formula, unbiasedness, order."""

import itertools

import jax
import numpy as np
import pytest

from gan_jax.metrics import kid


def _kid_full(x, y):
  return kid.kid(real_features=x, fake_features=y, n_subsets=1,
                 subset_size=len(x))


def test_matches_explicit_unbiased_formula_on_full_sets():
  rng = np.random.default_rng(0)
  m, dim = 12, 3
  x, y = rng.normal(size=(m, dim)), 0.5 + rng.normal(size=(m, dim))
  k = lambda a, b: (np.dot(a, b) / dim + 1.0) ** 3
  pairs = [(i, j) for i, j in itertools.product(range(m), repeat=2) if i != j]
  expected = (sum(k(x[i], x[j]) + k(y[i], y[j]) for i, j in pairs)
              / (m * (m - 1))
              - 2 * sum(k(x[i], y[j]) for i in range(m) for j in range(m))
              / m ** 2)
  mean, std = _kid_full(x, y)  # a subset of size m is a permutation: exact
  np.testing.assert_allclose(mean, expected, rtol=1e-5)
  assert std == 0.0


def test_unbiased_under_the_null():
  # Independent same-distribution pairs: the mean over draws is ~0, while the
  # biased (V-statistic) estimator sits at 2 (E k(x,x) - E k(x,y)) / m > 0.
  rng = np.random.default_rng(1)
  m, dim = 200, 8
  unbiased, biased = [], []
  for _ in range(30):
    x, y = rng.normal(size=(m, dim)), rng.normal(size=(m, dim))
    unbiased.append(_kid_full(x, y)[0])
    k = lambda a, b: (a @ b.T / dim + 1.0) ** 3
    biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
  assert np.mean(biased) > 0.05
  assert abs(np.mean(unbiased)) < 0.02


def test_self_and_same_distribution_small_relative_to_shift():
  rng = np.random.default_rng(2)
  x, x2 = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
  args = dict(n_subsets=20, subset_size=500)
  shifted, _ = kid.kid(real_features=x, fake_features=x + 0.5, **args)
  self_kid, _ = kid.kid(real_features=x, fake_features=x, **args)
  same_dist, _ = kid.kid(real_features=x, fake_features=x2, **args)
  assert shifted > 0.1
  assert abs(self_kid) < 0.05 * shifted
  assert abs(same_dist) < 0.05 * shifted


def test_increases_with_noise():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(2000, 16))
  noise = rng.normal(size=x.shape)
  values = [kid.kid(real_features=x, fake_features=x + s * noise,
                    n_subsets=20, subset_size=500, key=7)[0]
            for s in (0.0, 0.3, 1.0, 3.0)]
  assert np.all(np.diff(values) > 0), values


def test_deterministic_given_key():
  rng = np.random.default_rng(4)
  x, y = rng.normal(size=(300, 4)), 0.2 + rng.normal(size=(300, 4))
  run = lambda key: kid.kid(real_features=x, fake_features=y, n_subsets=5,
                            subset_size=100, key=key)
  assert run(3) == run(3) == run(jax.random.key(3))
  assert run(3) != run(4)


def test_bad_subset_size():
  x = np.zeros((10, 2))
  with pytest.raises(ValueError, match="subset_size"):
    kid.kid(real_features=x, fake_features=x, subset_size=11)


def test_kid_std_only_when_subsets_are_smaller_than_the_sets():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(1000, 8)), 0.3 + rng.normal(size=(1000, 8))
  whole = kid.kid_with_spread(real_features=x, fake_features=y, key=1)
  assert set(whole) == {"kid"}  # every subset a permutation of the sets: the std would be ~0
  assert whole["kid"] == pytest.approx(_kid_full(x, y)[0], rel=1e-12)  # the full-set estimator
  _, degenerate_std = kid.kid(real_features=x, fake_features=y, subset_size=1000, key=1)
  assert degenerate_std < 1e-9 * abs(whole["kid"])
  half = kid.kid_with_spread(real_features=x, fake_features=y, max_subset_size=500, key=1)
  assert half["kid_std"] > 0.05 * abs(half["kid"])  # a real spread
