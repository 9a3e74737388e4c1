"""Tests for the gan_jax.metrics package surface and its registry."""

import numpy as np
import pytest

from gan_jax import metrics


def test_feature_metric_registry():
  assert metrics.FEATURE_METRICS.names() == ["fid", "kid", "precision_recall"]
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(1000, 4)), 1.0 + rng.normal(size=(1000, 4))
  out = {}
  for name in metrics.FEATURE_METRICS:
    out.update(metrics.get_feature_metric(name)(real_features=real,
                                                fake_features=fake))
  # 1,000 samples a side: KID's subsets are the whole sets, so no std.
  assert set(out) == {"fid", "kid", "precision", "recall"}
  assert all(isinstance(v, float) for v in out.values())
  np.testing.assert_allclose(out["fid"], 4.0, rtol=0.1)  # |dmu|^2 = 4
  with pytest.raises(ValueError, match="precision_recall"):
    metrics.get_feature_metric("is")


def test_submodules_are_not_shadowed():
  import gan_jax.metrics.fid as fid_module  # pylint: disable=g-import-not-at-top
  assert callable(fid_module.fid) and callable(metrics.kid.kid)
