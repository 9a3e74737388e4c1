"""Tests for gan_jax.metrics.score: classifier (Inception) score."""

import numpy as np
import pytest
import scipy.special

from gan_jax.metrics import score


def test_confident_uniform_predictions_score_num_classes():
  num_classes = 10
  one_hot = np.eye(num_classes)[np.arange(1000) % num_classes]
  mean, std = score.classifier_score(one_hot, splits=1)
  np.testing.assert_allclose(mean, num_classes, rtol=1e-12)
  mean, std = score.classifier_score(one_hot, splits=10)  # balanced splits
  np.testing.assert_allclose(mean, num_classes, rtol=1e-12)
  assert std < 1e-12


def test_one_repeated_class_scores_one():
  probs = np.eye(10)[np.full(100, 3)]
  assert score.classifier_score(probs, splits=1) == (1.0, 0.0)
  soft = np.tile([0.1, 0.6, 0.3], (50, 1))  # same non-degenerate p(y|x)
  np.testing.assert_allclose(score.classifier_score(soft, splits=5)[0], 1.0)


def test_hand_computed_mixture():
  # Half (1, 0), half (1/2, 1/2): p(y) = (3/4, 1/4), E KL = 3/4 log(4/3).
  probs = np.array([[1.0, 0.0], [0.5, 0.5]] * 50)
  mean, _ = score.classifier_score(probs, splits=1)
  np.testing.assert_allclose(mean, (4 / 3) ** 0.75, rtol=1e-12)


def test_splits_mean_and_std():
  # First half confident over 2 classes (score 2), second half one class (1).
  probs = np.concatenate([np.eye(2)[np.arange(50) % 2],
                          np.eye(2)[np.zeros(50, int)]])
  mean, std = score.classifier_score(probs, splits=2)
  np.testing.assert_allclose([mean, std], [1.5, 0.5], rtol=1e-12)


def test_logits_variant_matches_probabilities():
  rng = np.random.default_rng(0)
  logits = 3.0 * rng.normal(size=(200, 7))
  np.testing.assert_allclose(
      score.classifier_score_from_logits(logits, splits=4),
      score.classifier_score(scipy.special.softmax(logits, axis=1), splits=4),
      rtol=1e-12)


def test_rejects_non_probabilities():
  with pytest.raises(ValueError, match="sum to 1"):
    score.classifier_score(np.full((10, 4), 0.3))
  with pytest.raises(ValueError, match="non-negative"):
    score.classifier_score(np.array([[1.5, -0.5]] * 10))
  with pytest.raises(ValueError, match="splits"):
    score.classifier_score(np.eye(3), splits=4)
