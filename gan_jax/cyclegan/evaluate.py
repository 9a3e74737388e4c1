"""Scores of a trained CycleGAN on the whole test split of both domains.

  python -m gan_jax.cyclegan.evaluate --workdir=workdirs/cyclegan [--step=N]

The run's config.json and its checkpoint (the latest, or --step) give G and
F; an in-domain classifier (`gan_jax.metrics.classifier`, the shipped
Fashion-MNIST CNN) labels every image. Scores (x in A, y in B, all test images
of each domain):
  translated_a_in_b   share of G(x) classified into a class of domain B
  translated_b_in_a   share of F(y) classified into a class of domain A
  real_a_in_b         share of the real x classified into B (the floor of
  real_b_in_a         translated_a_in_b), and of the real y into A
  real_a_in_a         share of the real x classified into A (the ceiling, as
  real_b_in_b         the classifier sees real images), and of y into B
  cycle_l1_a          mean |F(G(x)) - x| over pixels in [-1, 1]
  cycle_l1_b          mean |G(F(y)) - y|
  change_l1_a         mean |G(x) - x|: how much the translation changes x
  change_l1_b         mean |F(y) - y|
They go to `<workdir>/translation_scores.json` with the step and the
classifier's id and test accuracy. A high translated share with a low cycle
loss means G changes the class the classifier sees while F can undo it; it
says nothing about how natural the images look (see the grids).
"""

from __future__ import annotations

import json
import os
from typing import Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax import cli
from gan_jax.checkpoints import Checkpointer
from gan_jax.cyclegan import data
from gan_jax.cyclegan import steps
from gan_jax.cyclegan.state import create_state
from gan_jax.data import images as images_lib
from gan_jax.data import scale_images
from gan_jax.metrics import classifier as classifier_lib

SCORES_FILE = "translation_scores.json"
Translate = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


def domain_share(probabilities: np.ndarray, *, classes: Sequence[int]) -> float:
  """The share of rows of `probabilities` [N, K] whose most likely class is in `classes`."""
  return float(np.mean(np.isin(np.argmax(probabilities, axis=-1), list(classes))))


def translation_scores(*, images_a: np.ndarray, images_b: np.ndarray, translate: Translate,
                       classify: Callable[[np.ndarray], np.ndarray],
                       classes_a: Sequence[int], classes_b: Sequence[int],
                       batch_size: int = 500) -> dict[str, float]:
  """The module docstring's scores.

  Args:
    images_a, images_b: test images of each domain [N_a / N_b, H, W, C] in [-1, 1].
    translate: `(a [n, ...], b [n, ...]) -> steps.translate`'s dict, applied
      to batches of at most `batch_size` of each (the shorter domain's last
      batches are empty).
    classify: images [N, H, W, C] -> class probabilities [N, K].
    classes_a, classes_b: the domains' classes.
  """
  parts: dict[str, list[np.ndarray]] = {k: [] for k in ("a", "g_a", "f_g_a", "b", "f_b",
                                                        "g_f_b")}
  for start in range(0, max(len(images_a), len(images_b)), batch_size):
    a, b = images_a[start:start + batch_size], images_b[start:start + batch_size]
    # translate needs both; a domain that ran out gives a stand-in batch, dropped below.
    out = translate(a if len(a) else images_a[:len(b)], b if len(b) else images_b[:len(a)])
    for key in parts:
      keep = len(a) if key in ("a", "g_a", "f_g_a") else len(b)
      parts[key].append(np.asarray(out[key])[:keep])
  x = {k: np.concatenate(v) for k, v in parts.items()}
  probs = {k: classify(x[k]) for k in ("a", "g_a", "b", "f_b")}
  l1 = lambda p, q: float(np.mean(np.abs(p - q)))
  return {
      "translated_a_in_b": domain_share(probs["g_a"], classes=classes_b),
      "translated_b_in_a": domain_share(probs["f_b"], classes=classes_a),
      "real_a_in_b": domain_share(probs["a"], classes=classes_b),
      "real_b_in_a": domain_share(probs["b"], classes=classes_a),
      "real_a_in_a": domain_share(probs["a"], classes=classes_a),
      "real_b_in_b": domain_share(probs["b"], classes=classes_b),
      "cycle_l1_a": l1(x["f_g_a"], x["a"]), "cycle_l1_b": l1(x["g_f_b"], x["b"]),
      "change_l1_a": l1(x["g_a"], x["a"]), "change_l1_b": l1(x["f_b"], x["b"]),
  }


def evaluate_run(workdir: str, *, step: int | None = None) -> dict:
  """Scores the checkpoint `step` (default: the latest) of the CycleGAN run
  in `workdir` and writes them to `<workdir>/translation_scores.json`.

  Raises:
    FileNotFoundError: no config.json or no checkpoint (at `step`).
    ValueError: no in-domain classifier for the run's dataset.
  """
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: is {workdir} a CycleGAN run folder?")
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  c = config.data
  clf = classifier_lib.get_classifier(c.name, data_dir=c.data_dir, source=c.source)
  test_x, test_y = images_lib.load_images(c.name, split="test", source=c.source,
                                          data_dir=c.data_dir)
  images = {name: scale_images(data.domain_of(test_x, test_y, classes=c[f"domain_{name}"],
                                              where=f"data.domain_{name}"))
            for name in ("a", "b")}
  state = create_state(config, sample_shape=images["a"].shape[1:])
  checkpointer = Checkpointer(workdir, max_to_keep=config.train.max_checkpoints)
  try:
    state = checkpointer.restore(state, step=step)
  finally:
    checkpointer.close()
  translate = jax.jit(steps.translate)
  scores = translation_scores(
      images_a=images["a"], images_b=images["b"],
      translate=lambda a, b: jax.device_get(translate(state, a, b)),
      classify=clf.probabilities, classes_a=c.domain_a, classes_b=c.domain_b)
  record = {"step": int(state.step), "num_test_a": len(images["a"]),
            "num_test_b": len(images["b"]), "classifier": clf.extractor_id,
            "classifier_test_accuracy": clf.test_accuracy, **scores}
  with open(os.path.join(workdir, SCORES_FILE), "w") as f:
    json.dump(record, f, indent=1)
  logging.info("%s", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in record.items()))
  return record


def define_flags() -> None:
  flags.DEFINE_string("workdir", None, "A CycleGAN run folder.")
  flags.DEFINE_integer("step", None, "The checkpoint to score (default: the latest).")
  flags.mark_flags_as_required(["workdir"])


@cli.user_errors_as_one_line
def main(argv):
  logging.get_absl_handler().addFilter(cli.QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected command-line arguments: {argv[1:]}")
  evaluate_run(flags.FLAGS.workdir, step=flags.FLAGS.step)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
