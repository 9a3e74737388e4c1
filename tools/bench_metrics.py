"""Benchmark (not a test): FID + KID + precision/recall on 10k vs 10k samples.

  python -m tools.bench_metrics [--num=10000] [--dataset=fashion_mnist]

Uses the dataset's in-domain extractor on real train vs test images (the
real-vs-real floor, at the size a model evaluation uses) and prints seconds
per metric, first call (with compilation) and second call.
"""

import os
import sys
import time

from absl import app, flags  # pylint: disable=g-multiple-import

from gan_jax import data, metrics
from gan_jax.metrics import classifier

_NUM = flags.DEFINE_integer("num", 10_000, "Samples per set.")
_DATASET = flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist | mnist_5k")


def main(argv):
  del argv
  clf = classifier.get_classifier(_DATASET.value)
  from gan_jax.configs import base  # pylint: disable=g-import-not-at-top
  cfg = base.get_config().dataset
  cfg.name = _DATASET.value
  ds = data.get_dataset(cfg)
  start = time.perf_counter()
  real = clf.features(ds.real_samples(split="train", num=_NUM.value))
  fake = clf.features(ds.real_samples(split="test", num=_NUM.value))
  print(f"extractor {clf.extractor_id}: features of 2 x {_NUM.value} images "
        f"in {time.perf_counter() - start:.2f} s")
  rows = []
  for name, fn in (("FID", lambda: metrics.fid.fid(real_features=real, fake_features=fake)),
                   ("KID", lambda: metrics.kid.kid(real_features=real, fake_features=fake)),
                   ("precision/recall", lambda: metrics.precision_recall(
                       real_features=real, fake_features=fake))):
    times = []
    for _ in range(2):
      t = time.perf_counter()
      value = fn()
      times.append(time.perf_counter() - t)
    rows.append(f"| {name} | {times[0]:.2f} | {times[1]:.2f} | {value} |")
  print("| metric | first call (s) | second call (s) | value (train vs test) |")
  print("|---|---|---|---|")
  print("\n".join(rows))


if __name__ == "__main__":
  app.run(main)
