"""Sample-quality metrics on features or class probabilities.

Pure functions of [N, D] feature arrays (FID, KID, precision/recall) or [N, C]
class probabilities (classifier score); the feature extractor lives elsewhere.
`FEATURE_METRICS` maps a name to `(*, real_features, fake_features) -> flat
dict of floats` with each metric's default settings, for the evaluation loop.

`fid` and `kid` stay the submodules here (call `metrics.fid.fid`,
`metrics.kid.kid`): re-exporting the functions under the same names would
shadow the modules, breaking `import gan_jax.metrics.fid as ...` and patching.
"""

from __future__ import annotations

from typing import Callable

import jax

from gan_jax.metrics import fid
from gan_jax.metrics import kid
from gan_jax.metrics.fid import feature_statistics
from gan_jax.metrics.fid import frechet_distance
from gan_jax.metrics.fid import trace_sqrt_product
from gan_jax.metrics.prdc import knn_radii
from gan_jax.metrics.prdc import precision_recall
from gan_jax.metrics.prdc import PrecisionRecall
from gan_jax.metrics.score import classifier_score
from gan_jax.metrics.score import classifier_score_from_logits
from gan_jax.registry import Registry

ArrayLike = jax.typing.ArrayLike
FeatureMetric = Callable[..., dict[str, float]]

FEATURE_METRICS: Registry[FeatureMetric] = Registry("feature metric")


@FEATURE_METRICS.register("fid")
def _fid_metric(*, real_features: ArrayLike,
                fake_features: ArrayLike) -> dict[str, float]:
  return {"fid": fid.fid(real_features=real_features,
                         fake_features=fake_features)}


@FEATURE_METRICS.register("kid")
def _kid_metric(*, real_features: ArrayLike,
                fake_features: ArrayLike) -> dict[str, float]:
  return kid.kid_with_spread(real_features=real_features, fake_features=fake_features)


@FEATURE_METRICS.register("precision_recall")
def _precision_recall_metric(*, real_features: ArrayLike,
                             fake_features: ArrayLike) -> dict[str, float]:
  return precision_recall(real_features=real_features,
                          fake_features=fake_features)._asdict()


def get_feature_metric(name: str) -> FeatureMetric:
  """Returns the registered feature metric; raises ValueError listing names."""
  return FEATURE_METRICS.get(name)


__all__ = [
    "FEATURE_METRICS",
    "PrecisionRecall",
    "classifier_score",
    "classifier_score_from_logits",
    "feature_statistics",
    "fid",
    "frechet_distance",
    "get_feature_metric",
    "kid",
    "knn_radii",
    "precision_recall",
    "trace_sqrt_product",
]
