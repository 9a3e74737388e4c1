"""In-domain feature extractors: small CNN classifiers for MNIST / Fashion-MNIST.

Inception features suit 28x28 greyscale digits poorly, and its weights need
the network once, so by default (`config.eval.extractor = 'auto'`) FID, KID,
precision/recall and the classifier score of these datasets use a small CNN
trained on the dataset itself (`metrics.inception` is the option):

  Conv(32, 3) - ReLU - MaxPool 2 - Conv(64, 3) - ReLU - MaxPool 2 -
  Dense(128) - ReLU [features] - Dense(10) [logits]

Training is deterministic (fixed seed, fixed data order). Weights are stored
as `<id>.msgpack`, where the id hashes the dataset's training data, the
architecture and the training config, so a change in any of them makes a new
extractor. Lookup order: the weights shipped in `gan_jax/metrics/weights/`
(made by `python -m gan_jax.metrics.classifier --dataset=NAME`, which trains
with exactly this code), then the cache dir (`$GAN_JAX_CACHE` or
`~/.cache/gan_jax/classifiers`); when neither has the id, the extractor is
trained and written to the cache dir. The test accuracy is measured at every
load, never stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time

from absl import logging
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.data import images as images_lib
from gan_jax.data import scale_images

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
FEATURE_DIM = 128
HIGHEST = jax.lax.Precision.HIGHEST
TRAIN_CONFIG = dict(seed=0, epochs=4, batch_size=128, learning_rate=1e-3, holdout=0)
# mnist_5k has 4,000 training images: more epochs, and its own 1,000-image
# test split stays held out for the reported accuracy.
DATASET_TRAIN_CONFIG = {"mnist_5k": dict(epochs=30)}
MIN_TEST_ACCURACY = {"fashion_mnist": 0.90}


class SmallCNN(nn.Module):
  """images [B, 28, 28, 1] in [-1, 1] -> (features [B, 128], logits [B, 10])."""
  num_classes: int = 10

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Full float32 on every backend (GPU and TPU default to TF32 / bfloat16 passes),
    # so features and scores do not depend on the accelerator.
    for features in (32, 64):
      x = nn.relu(nn.Conv(features, (3, 3), padding="SAME", precision=HIGHEST)(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape((x.shape[0], -1))
    feats = nn.relu(nn.Dense(FEATURE_DIM, precision=HIGHEST)(x))
    return feats, nn.Dense(self.num_classes, precision=HIGHEST)(feats)


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A trained extractor. `extractor_id` names it in every reported number."""
  dataset: str
  extractor_id: str
  params: dict
  test_accuracy: float
  num_test: int

  def _batched(self, images: np.ndarray, index: int, batch_size: int) -> np.ndarray:
    fn = _apply_jit
    outs = [np.asarray(fn(self.params, jnp.asarray(images[i:i + batch_size]))[index])
            for i in range(0, len(images), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

  def features(self, images: np.ndarray, *, batch_size: int = 1000) -> np.ndarray:
    """float32 images [N, 28, 28, 1] in [-1, 1] -> penultimate features [N, 128]."""
    return self._batched(images, 0, batch_size)

  def probabilities(self, images: np.ndarray, *, batch_size: int = 1000) -> np.ndarray:
    """float32 images [N, 28, 28, 1] in [-1, 1] -> class probabilities [N, 10]."""
    return np.asarray(jax.nn.softmax(self._batched(images, 1, batch_size), axis=-1))


@jax.jit
def _apply_jit(params, x):
  return SmallCNN().apply({"params": params}, x)


def default_cache_dir() -> str:
  return os.environ.get("GAN_JAX_CACHE",
                        os.path.join(os.path.expanduser("~"), ".cache", "gan_jax", "classifiers"))


def _train_config(dataset: str) -> dict:
  return {**TRAIN_CONFIG, **DATASET_TRAIN_CONFIG.get(dataset, {})}


def extractor_id(dataset: str, train_labels: np.ndarray, train_images: np.ndarray) -> str:
  """Hash of data + architecture + training config, e.g. 'fashion_mnist-cnn-3f2a…'."""
  h = hashlib.sha256()
  h.update(train_images.tobytes())
  h.update(train_labels.tobytes())
  h.update(repr(SmallCNN()).encode())
  h.update(json.dumps(_train_config(dataset), sort_keys=True).encode())
  return f"{dataset}-cnn-{h.hexdigest()[:12]}"


def train_classifier(images: np.ndarray, labels: np.ndarray, *, epochs: int, batch_size: int,
                     learning_rate: float, seed: int, **unused) -> dict:
  """Trains SmallCNN with Adam on uint8 images [N, 28, 28, 1]; returns params."""
  del unused
  model = SmallCNN()
  params = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, 28, 28, 1)))["params"]
  tx = optax.adam(learning_rate)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, x, y):
    def loss_fn(p):
      _, logits = model.apply({"params": p}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  rng = np.random.default_rng(seed)
  steps_per_epoch = len(images) // batch_size
  start = time.perf_counter()
  for epoch in range(epochs):
    order = rng.permutation(len(images))
    losses = []
    for i in range(steps_per_epoch):
      idx = order[i * batch_size:(i + 1) * batch_size]
      params, opt_state, loss = step(params, opt_state, scale_images(images[idx]), labels[idx])
      losses.append(loss)
    logging.info("classifier epoch %d/%d: loss %.4f (%.0f s)", epoch + 1, epochs,
                 float(np.mean(jax.device_get(losses))), time.perf_counter() - start)
  return params


def accuracy(classifier: Classifier, images: np.ndarray, labels: np.ndarray) -> float:
  probs = classifier.probabilities(scale_images(images))
  return float(np.mean(probs.argmax(-1) == labels))


def get_classifier(dataset: str, *, cache_dir: str | None = None,
                   data_dir: str = "", source: str = "default") -> Classifier:
  """Loads the cached extractor for `dataset`, training (and caching) it if missing.

  Raises:
    ValueError: no classifier for this dataset, or a trained classifier below
      the accuracy floor in MIN_TEST_ACCURACY.
  """
  if dataset not in ("fashion_mnist", "mnist", "mnist_5k"):
    raise ValueError(f"No in-domain classifier for {dataset!r}; valid choices: "
                     "fashion_mnist, mnist, mnist_5k")
  train_x, train_y = images_lib.load_images(dataset, split="train", source=source,
                                            data_dir=data_dir)
  test_x, test_y = images_lib.load_images(dataset, split="test", source=source,
                                          data_dir=data_dir)
  ident = extractor_id(dataset, train_y, train_x)
  cache_dir = cache_dir or default_cache_dir()
  path = os.path.join(cache_dir, f"{ident}.msgpack")
  template = SmallCNN().init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))["params"]
  params = None
  for candidate in (os.path.join(SHIPPED_DIR, f"{ident}.msgpack"), path):
    if params is None and os.path.exists(candidate):
      try:
        with open(candidate, "rb") as f:
          params = flax.serialization.from_bytes(template, f.read())
      except Exception as e:  # A cut or foreign file: retrain rather than fail.
        logging.warning("Stored classifier %s unreadable (%s); ignoring it", candidate, e)
  if params is None:
    logging.info("Training the %s feature extractor %s", dataset, ident)
    params = train_classifier(train_x, train_y, **_train_config(dataset))
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
      f.write(flax.serialization.to_bytes(params))
    os.replace(tmp, path)
  clf = Classifier(dataset, ident, params, test_accuracy=float("nan"), num_test=len(test_y))
  acc = accuracy(clf, test_x, test_y)
  clf = dataclasses.replace(clf, test_accuracy=acc)
  logging.info("Extractor %s: test accuracy %.4f on %d images", ident, acc, len(test_y))
  floor = MIN_TEST_ACCURACY.get(dataset)
  if floor is not None and acc < floor:
    raise ValueError(f"Extractor {ident} reaches only {acc:.4f} test accuracy on {dataset} "
                     f"(floor {floor}); its features would make the metrics meaningless")
  return clf


def main(argv):
  """Trains (or loads) an extractor and reports it; `--ship` copies it into
  the package's weights folder."""
  from absl import app  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  start = time.perf_counter()
  clf = get_classifier(_DATASET.value)
  print(f"{clf.extractor_id}: test accuracy {clf.test_accuracy:.4f} on {clf.num_test} "
        f"images ({time.perf_counter() - start:.0f} s)")
  if _SHIP.value:
    os.makedirs(SHIPPED_DIR, exist_ok=True)
    with open(os.path.join(SHIPPED_DIR, f"{clf.extractor_id}.msgpack"), "wb") as f:
      f.write(flax.serialization.to_bytes(clf.params))


if __name__ == "__main__":
  from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import
  _DATASET = flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist | mnist | mnist_5k")
  _SHIP = flags.DEFINE_bool("ship", False, "Copy the weights into gan_jax/metrics/weights/.")
  app.run(main)
