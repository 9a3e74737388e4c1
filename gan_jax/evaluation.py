"""Sample-quality evaluation of a GANState, during training or from a checkpoint.

Images (MNIST, Fashion-MNIST): `num_samples` generated images are scored on
the penultimate features of the dataset's own classifier
(`metrics.classifier`): FID, KID, precision/recall (k = 3) and the classifier
score. The real-vs-real floor (the same metrics between `num_samples` training
and test images) is computed once and reported beside every model value
(`floor/...`). Every row also names the extractor and the sample counts.
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

from gan_jax import config_checks
from gan_jax import metrics
from gan_jax.data import Dataset, toy2d
from gan_jax.metrics import classifier as classifier_lib
from gan_jax.state import GANState

CLASSIFIER_DATASETS = ("fashion_mnist", "mnist", "mnist_5k")
EVAL_KEY = 0xE7A1


def image_metrics(*, real_features: np.ndarray, fake_features: np.ndarray,
                  fake_probs: np.ndarray, seed: int = 0) -> dict[str, float]:
  """FID, KID, precision/recall and classifier score of one feature set pair."""
  kid = metrics.kid.kid_with_spread(real_features=real_features, fake_features=fake_features,
                                    key=seed)
  pr = metrics.precision_recall(real_features=real_features, fake_features=fake_features)
  splits = 10 if len(fake_probs) >= 100 else 1
  score, score_std = metrics.classifier_score(fake_probs, splits=splits)
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
    if dataset.is_toy:
      self.classifier = None
      self.info["extractor"] = "none (2-D modes)"
      return
    if dataset.name not in CLASSIFIER_DATASETS:
      raise ValueError(f"No feature extractor for {dataset.name!r}; evaluation supports "
                       f"{', '.join(CLASSIFIER_DATASETS)} and the 2-D mixtures")
    self.classifier = classifier_lib.get_classifier(
        dataset.name, cache_dir=ec.classifier_cache_dir or None,
        data_dir=config.dataset.data_dir, source=config.dataset.source)
    num_test = len(dataset.load_split("test")[0])
    num_real = min(ec.num_samples, num_test, len(dataset.train_images))
    train = dataset.real_samples(split="train", num=num_real, seed=config.seed)
    test = dataset.real_samples(split="test", num=num_real, seed=config.seed)
    self.real_features = self.classifier.features(train)
    self.floor = image_metrics(real_features=self.real_features,
                               fake_features=self.classifier.features(test),
                               fake_probs=self.classifier.probabilities(test), seed=config.seed)
    self.info.update(extractor=self.classifier.extractor_id, num_real=num_real,
                     extractor_test_accuracy=self.classifier.test_accuracy)

  def samples(self, state: GANState) -> np.ndarray:
    """`num_samples` generated samples from a fixed latent stream."""
    out = []
    for i in range(0, self.num_samples, self.batch_size):
      n = min(self.batch_size, self.num_samples - i)
      z = jax.random.normal(jax.random.fold_in(self.key, i), (n, self.latent_dim))
      out.append(np.asarray(self._generate(state, z)))
    return np.concatenate(out)

  def __call__(self, state: GANState) -> dict[str, float]:
    """Returns flat metrics: `eval/<name>` for the model, `floor/<name>` beside it."""
    fake = self.samples(state)
    if not np.isfinite(fake).all():
      return {"eval/non_finite_samples": float((~np.isfinite(fake)).any(axis=tuple(
          range(1, fake.ndim))).mean())}
    if self.classifier is None:
      values = toy_metrics(fake, name=self.dataset.name, min_count=self.modes_min_count,
                           loose_num_std=self.modes_loose_num_std)
      return {f"eval/{k}": v for k, v in values.items()}
    values = image_metrics(real_features=self.real_features,
                           fake_features=self.classifier.features(fake),
                           fake_probs=self.classifier.probabilities(fake))
    return {**{f"eval/{k}": v for k, v in values.items()},
            **{f"floor/{k}": v for k, v in self.floor.items()}}


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
  config = load_run_config(workdir)
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
