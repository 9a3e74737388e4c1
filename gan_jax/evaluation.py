"""Sample-quality evaluation of a GANState, during training or from a checkpoint.

Images: `num_samples` generated images are scored on the features of an
extractor chosen by `config.eval.extractor`: FID, KID, precision/recall (k = 3)
and the classifier score (`score`, `score_std`; 10 splits from 100 samples on).
  classifier  the dataset's own small CNN (`metrics.classifier`; MNIST,
              MNIST-5k, Fashion-MNIST): penultimate features [N, 128] and its
              10-class probabilities.
  inception   the FID Inception (`metrics.inception`): pool3 features
              [N, 2048]; the score is then the Inception score, from its 1008
              logits without the fc bias as torch-fidelity computes it.
  auto        (default) classifier for MNIST-like data, inception otherwise
              (CIFAR-10, CelebA).
The columns keep their names under either extractor; the `extractor` column
says which network made them. The real-vs-real floor (the same metrics between
`num_samples` training and test images) is computed once and reported beside
every model value (`floor/...`). Every row also names the extractor and the
sample counts.
Class-conditional GANs (`gan_jax.conditioning`): the samples ask for every
class equally often (0, 1, ..., C-1, 0, ...), and two metrics are added:
  class_accuracy  the in-domain classifier's accuracy on the requested
                  classes (classifier extractor only; its floor is the
                  classifier's accuracy on the real test images scored);
  intra_fid       the mean over classes of the FID between the samples of a
                  class and the real images of that class (Miyato & Koyama
                  2018's intra-FID), on about num_samples / C images per side;
                  its floor is the same between train and test images.
2-D mixtures (ring, grid): the covered modes, strict (a mode is covered when
`eval.modes_min_count` samples lie within 3 std of its centre) and loose
(within `eval.modes_loose_num_std` std: the ring's modes have std 0.02, so a
blurry but mode-seeking generator scores 0 at 3 std), and the fraction of
samples within 3 std of some mode ("high quality").

Command line: `python -m gan_jax.evaluation --workdir=DIR [--step=N]` scores a
checkpoint of a run with the run's own config.json and prints a JSON row.
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import flags
import jax
import ml_collections
import numpy as np

from gan_jax import conditioning
from gan_jax import config_checks
from gan_jax import metrics
from gan_jax.data import Dataset, toy2d
from gan_jax.errors import ConfigError
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.metrics import inception as inception_lib
from gan_jax.state import GANState

CLASSIFIER_DATASETS = ("fashion_mnist", "mnist", "mnist_5k")
EVAL_KEY = 0xE7A1


def extractor_kind(extractor: str, dataset_name: str) -> str:
  """'classifier' or 'inception': what `config.eval.extractor` means for a dataset.

  Raises:
    ConfigError: 'classifier' for a dataset without an in-domain classifier.
  """
  if extractor == "auto":
    return "classifier" if dataset_name in CLASSIFIER_DATASETS else "inception"
  if extractor == "classifier" and dataset_name not in CLASSIFIER_DATASETS:
    raise ConfigError(f"config.eval.extractor='classifier' needs a dataset with an in-domain "
                      f"classifier ({', '.join(CLASSIFIER_DATASETS)}), not {dataset_name!r}; "
                      "use 'inception' or 'auto'")
  return extractor


class _ClassifierFeatures:
  """The in-domain CNN as an extractor: images -> (features, probabilities)."""

  def __init__(self, classifier: classifier_lib.Classifier):
    self.classifier = classifier

  def __call__(self, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return (self.classifier.features(images),
            {"fake_probs": self.classifier.probabilities(images)})


class _InceptionFeatures:
  """The FID Inception as an extractor: images -> (pool3, unbiased logits)."""

  def __init__(self, extractor: inception_lib.InceptionExtractor):
    self.extractor = extractor

  def __call__(self, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    features, logits = self.extractor(images)
    return features, {"fake_logits": logits}


def image_metrics(*, real_features: np.ndarray, fake_features: np.ndarray,
                  fake_probs: np.ndarray | None = None, fake_logits: np.ndarray | None = None,
                  seed: int = 0) -> dict[str, float]:
  """FID, KID, precision/recall and classifier score of one feature set pair.

  The score comes from `fake_probs` [M, C] or, for the Inception score, from
  `fake_logits` [M, C] (softmax in float64); exactly one of them is given.
  """
  if (fake_probs is None) == (fake_logits is None):
    raise ValueError("pass exactly one of fake_probs and fake_logits")
  kid = metrics.kid.kid_with_spread(real_features=real_features, fake_features=fake_features,
                                    key=seed)
  pr = metrics.precision_recall(real_features=real_features, fake_features=fake_features)
  scored = fake_probs if fake_logits is None else fake_logits
  splits = 10 if len(scored) >= 100 else 1
  if fake_logits is None:
    score, score_std = metrics.classifier_score(fake_probs, splits=splits)
  else:
    score, score_std = metrics.classifier_score_from_logits(fake_logits, splits=splits)
  return {"fid": metrics.fid.fid(real_features=real_features, fake_features=fake_features),
          **kid,
          "precision": float(pr.precision), "recall": float(pr.recall),
          "score": float(score), "score_std": float(score_std)}


class Evaluator:
  """Scores generators against one dataset; real features are computed once.

  Args:
    config: the full experiment config (reads `config.eval`, `config.seed`,
      `config.model.latent_dim`, `config.dataset`).
    dataset: the training dataset.
  """

  def __init__(self, config: ml_collections.ConfigDict, dataset: Dataset):
    ec = config.eval
    config_checks.check_block(ec, config_checks.block_rules("eval"), where="eval")
    self.num_samples = ec.num_samples
    self.batch_size = ec.batch_size
    self.latent_dim = config.model.latent_dim
    self.key = jax.random.fold_in(jax.random.PRNGKey(config.seed), EVAL_KEY)
    self.dataset = dataset
    self.modes_min_count, self.modes_loose_num_std = ec.modes_min_count, ec.modes_loose_num_std
    self.info: dict[str, Any] = {"num_fake": ec.num_samples}
    self.floor: dict[str, float] = {}
    self._generate = jax.jit(lambda state, z: state.generate(z))
    self._generate_class = jax.jit(lambda state, z, y: state.generate(z, y))
    self.num_classes = conditioning.num_classes(config.conditioning)
    self.labels = conditioning.balanced_labels(ec.num_samples, max(self.num_classes, 1))
    if dataset.is_toy:
      self.extract = None
      self.info["extractor"] = "none (2-D modes)"
      return
    if extractor_kind(ec.extractor, dataset.name) == "classifier":
      classifier = classifier_lib.get_classifier(
          dataset.name, cache_dir=ec.classifier_cache_dir or None,
          data_dir=config.dataset.data_dir, source=config.dataset.source)
      self.extract = _ClassifierFeatures(classifier)
      extractor_id = classifier.extractor_id
      extra = {"extractor_test_accuracy": classifier.test_accuracy}
    else:
      extractor = inception_lib.load_inception(
          weights_path=ec.inception_weights,
          batch_size=min(inception_lib.BATCH_SIZE, ec.num_samples))
      self.extract = _InceptionFeatures(extractor)
      extractor_id, extra = extractor.extractor_id, {}
    num_test = len(dataset.load_split("test")[0])
    num_real = min(ec.num_samples, num_test, len(dataset.train_images))
    train, self.real_labels = dataset.real_samples(split="train", num=num_real,
                                                   seed=config.seed, with_labels=True)
    test, test_labels = dataset.real_samples(split="test", num=num_real, seed=config.seed,
                                             with_labels=True)
    self.real_features, _ = self.extract(train)
    test_features, test_scored = self.extract(test)
    self.floor = image_metrics(real_features=self.real_features, fake_features=test_features,
                               seed=config.seed, **test_scored)
    if self.num_classes:
      self.floor.update(class_metrics(
          real_features=self.real_features, real_labels=self.real_labels,
          fake_features=test_features, fake_labels=test_labels,
          fake_probs=test_scored.get("fake_probs"), num_classes=self.num_classes))
    self.info.update(extractor=extractor_id, num_real=num_real, **extra)

  def samples(self, state: GANState) -> np.ndarray:
    """`num_samples` generated samples from a fixed latent stream (of the
    classes `self.labels` when conditional)."""
    out = []
    for i in range(0, self.num_samples, self.batch_size):
      n = min(self.batch_size, self.num_samples - i)
      z = jax.random.normal(jax.random.fold_in(self.key, i), (n, self.latent_dim))
      out.append(np.asarray(self._generate_class(state, z, self.labels[i:i + n])
                            if self.num_classes else self._generate(state, z)))
    return np.concatenate(out)

  def __call__(self, state: GANState) -> dict[str, float]:
    """Returns flat metrics: `eval/<name>` for the model, `floor/<name>` beside it."""
    fake = self.samples(state)
    if not np.isfinite(fake).all():
      return {"eval/non_finite_samples": float((~np.isfinite(fake)).any(axis=tuple(
          range(1, fake.ndim))).mean())}
    if self.extract is None:
      values = toy_metrics(fake, name=self.dataset.name, min_count=self.modes_min_count,
                           loose_num_std=self.modes_loose_num_std)
      return {f"eval/{k}": v for k, v in values.items()}
    fake_features, fake_scored = self.extract(fake)
    values = image_metrics(real_features=self.real_features, fake_features=fake_features,
                           **fake_scored)
    if self.num_classes:
      values.update(class_metrics(
          real_features=self.real_features, real_labels=self.real_labels,
          fake_features=fake_features, fake_labels=self.labels,
          fake_probs=fake_scored.get("fake_probs"), num_classes=self.num_classes))
    return {**{f"eval/{k}": v for k, v in values.items()},
            **{f"floor/{k}": v for k, v in self.floor.items()}}


def class_metrics(*, real_features: np.ndarray, real_labels: np.ndarray,
                  fake_features: np.ndarray, fake_labels: np.ndarray,
                  fake_probs: np.ndarray | None, num_classes: int) -> dict[str, float]:
  """The class-conditional metrics of samples of known (requested) classes.

  Args:
    real_features, fake_features: [N, D], [M, D].
    real_labels, fake_labels: int [N], [M]: the real classes, the requested ones.
    fake_probs: [M, C] the in-domain classifier's probabilities, or None (no
      classifier: no class_accuracy).
    num_classes: C.

  Returns:
    intra_fid: the mean over classes c of FID(real of c, fake of c);
    class_accuracy: mean(argmax fake_probs == fake_labels), if fake_probs.

  Raises:
    ValueError: a class with fewer than 2 real or fake samples.
  """
  fids = []
  for c in range(num_classes):
    real_c, fake_c = real_features[real_labels == c], fake_features[fake_labels == c]
    if len(real_c) < 2 or len(fake_c) < 2:
      raise ValueError(f"class {c} has {len(real_c)} real and {len(fake_c)} generated "
                       "samples; intra-class FID needs 2 of each (raise eval.num_samples)")
    fids.append(metrics.fid.fid(real_features=real_c, fake_features=fake_c))
  out = {"intra_fid": float(np.mean(fids))}
  if fake_probs is not None:
    out["class_accuracy"] = float(np.mean(np.argmax(fake_probs, axis=-1) == fake_labels))
  return out


def toy_metrics(samples: np.ndarray, *, name: str, min_count: int = 20,
                loose_num_std: float = 10.0) -> dict[str, float]:
  """Mode coverage of 2-D samples [N, 2] from a mixture ({} for other toys).

  Returns:
    modes_covered (>= min_count samples within 3 std of the centre),
    modes_covered_loose (the same within loose_num_std std), num_modes, and
    high_quality (fraction of samples within 3 std of their nearest centre).
  """
  try:
    centers = toy2d.mode_centers(name)
  except ValueError:
    return {}
  dist = np.linalg.norm(samples[:, None, :] - centers[None], axis=-1).min(axis=1)
  strict = toy2d.covered_modes(samples, name=name, min_count=min_count)
  loose = toy2d.covered_modes(samples, name=name, min_count=min_count, num_std=loose_num_std)
  return {"modes_covered": float(strict.sum()), "modes_covered_loose": float(loose.sum()),
          "num_modes": float(len(centers)),
          "high_quality": float(np.mean(dist <= 3 * toy2d.mode_std(name)))}


def evaluate_checkpoint(workdir: str, *, step: int | None = None,
                        num_samples: int | None = None) -> dict[str, Any]:
  """Restores a checkpoint of `workdir` and returns its metrics and metadata."""
  from gan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  from gan_jax.checkpoints import Checkpointer, load_run_config  # pylint: disable=g-import-not-at-top
  from gan_jax.state import create_state  # pylint: disable=g-import-not-at-top
  config = load_run_config(workdir)  # fields added since the run: their base defaults
  if num_samples:
    config.eval.num_samples = num_samples
  dataset = data_lib.get_dataset(config.dataset)
  checkpointer = Checkpointer(workdir)
  try:
    state = checkpointer.restore(create_state(config, sample_shape=dataset.sample_shape),
                                 step=step)
  finally:
    checkpointer.close()
  evaluator = Evaluator(config, dataset)
  return {"step": int(state.step), **evaluator.info, **evaluator(state)}


def main(argv):
  from absl import app  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)  # the answer is the one JSON line below
  workdir = flags.FLAGS.workdir
  row = evaluate_checkpoint(workdir, step=flags.FLAGS.step, num_samples=flags.FLAGS.num_samples)
  out = os.path.join(workdir, f"eval_step_{row['step']}.json")
  with open(out, "w") as f:
    json.dump(row, f, indent=2)
  print(json.dumps(row))


def define_flags() -> None:
  """--workdir, --step, --num_samples."""
  flags.DEFINE_string("workdir", None, "Run folder with config.json and checkpoints.")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
  flags.DEFINE_integer("num_samples", None, "Override config.eval.num_samples.")
  flags.mark_flag_as_required("workdir")


def run_program() -> None:
  """The `gan-jax-evaluate` entry point."""
  from absl import app  # pylint: disable=g-import-not-at-top
  from gan_jax import cli  # pylint: disable=g-import-not-at-top
  define_flags()
  app.run(cli.user_errors_as_one_line(main), flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run_program()
