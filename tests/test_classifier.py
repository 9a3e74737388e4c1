"""In-domain feature extractors: shipped weights match their id, accuracy floors,
deterministic training, cache and retrain-when-missing."""

import os

import jax
import numpy as np
import pytest

from gan_jax.data import images
from gan_jax.metrics import classifier


def _no_training(*args, **kwargs):
  raise AssertionError("the extractor was retrained instead of loaded")


@pytest.mark.parametrize("dataset,floor", [("fashion_mnist", 0.90), ("mnist_5k", 0.95)])
def test_shipped_extractor_matches_its_id_and_reaches_the_floor(dataset, floor, monkeypatch,
                                                                  tmp_path):
  monkeypatch.setattr(classifier, "train_classifier", _no_training)
  clf = classifier.get_classifier(dataset, cache_dir=str(tmp_path))
  assert clf.extractor_id.startswith(f"{dataset}-cnn-")
  assert clf.test_accuracy >= floor, clf.test_accuracy
  x, _ = images.load_images(dataset, split="test", source="default", data_dir="")
  feats = clf.features(x[:7].astype(np.float32) / 127.5 - 1)
  probs = clf.probabilities(x[:7].astype(np.float32) / 127.5 - 1)
  assert feats.shape == (7, classifier.FEATURE_DIM) and (feats >= 0).all()  # after ReLU
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_training_is_deterministic_and_seeded():
  x, y = images.load_images("mnist_5k", split="train", source="default", data_dir="")
  kwargs = dict(epochs=1, batch_size=64, learning_rate=1e-3)
  a = classifier.train_classifier(x[:256], y[:256], seed=0, **kwargs)
  b = classifier.train_classifier(x[:256], y[:256], seed=0, **kwargs)
  c = classifier.train_classifier(x[:256], y[:256], seed=1, **kwargs)
  jax.tree.map(np.testing.assert_array_equal, a, b)
  assert not all(np.array_equal(p, q) for p, q in zip(jax.tree.leaves(a), jax.tree.leaves(c)))


def test_id_changes_with_data_and_training_config(monkeypatch):
  x, y = images.load_images("mnist_5k", split="train", source="default", data_dir="")
  ident = classifier.extractor_id("mnist_5k", y, x)
  assert classifier.extractor_id("mnist_5k", y, x) == ident
  x2 = x.copy()
  x2[0, 0, 0, 0] ^= 1
  assert classifier.extractor_id("mnist_5k", y, x2) != ident
  monkeypatch.setitem(classifier.DATASET_TRAIN_CONFIG, "mnist_5k", dict(epochs=29))
  assert classifier.extractor_id("mnist_5k", y, x) != ident


@pytest.mark.slow
def test_missing_weights_are_trained_cached_and_reloaded(monkeypatch, tmp_path):
  monkeypatch.setattr(classifier, "SHIPPED_DIR", str(tmp_path / "none"))
  monkeypatch.setitem(classifier.DATASET_TRAIN_CONFIG, "mnist_5k", dict(epochs=1))
  trained = classifier.get_classifier("mnist_5k", cache_dir=str(tmp_path))
  files = os.listdir(tmp_path)
  assert files == [f"{trained.extractor_id}.msgpack"]
  monkeypatch.setattr(classifier, "train_classifier", _no_training)
  loaded = classifier.get_classifier("mnist_5k", cache_dir=str(tmp_path))
  jax.tree.map(np.testing.assert_array_equal, loaded.params, trained.params)
  # A corrupt cache file is ignored (and retrained), not trusted.
  (tmp_path / files[0]).write_bytes(b"not msgpack")
  with pytest.raises(AssertionError, match="retrained"):
    classifier.get_classifier("mnist_5k", cache_dir=str(tmp_path))


def test_unknown_dataset_is_refused():
  with pytest.raises(ValueError, match="fashion_mnist, mnist, mnist_5k"):
    classifier.get_classifier("cifar10")


def test_the_extractor_runs_at_full_float32_precision_on_every_backend():
  """Every conv and matmul of the CNN asks for HIGHEST (GPU/TPU would default to
  TF32 / bfloat16 passes and shift every metric)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  model = classifier_lib.SmallCNN()
  x = jnp.zeros((2, 28, 28, 1))
  params = model.init(jax.random.PRNGKey(0), x)
  text = str(jax.make_jaxpr(lambda p: model.apply(p, x))(params))
  ops = text.count("conv_general_dilated[") + text.count("dot_general[")
  assert ops == 4 and text.count("Precision.HIGHEST") >= 4, text
