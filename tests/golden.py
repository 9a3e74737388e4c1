"""Golden outputs: the state and metrics after a few steps of representative configs.

Recorded before a refactor of the train step and checked by
tests/test_golden.py, so the refactor is proven behaviour-preserving:
  python tests/golden.py            # records tests/golden/*.json and .npz

Cases: the main job's config (DCGAN-28 on Fashion-MNIST, full size), and a tiny
MLP GAN on the 2-D ring for every objective, every penalty and every trick.
Each case keeps a SHA-256 per state leaf and the metric rows (exact), and for
the tiny cases the leaves themselves (.npz), to tell an allclose change from a
real one, and the CPU class it was recorded on (`cpu_class`): only a machine of
that class can reproduce the bits of every case.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from unittest import mock

import jax
import ml_collections
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from experiments import dcgan_fashion_mnist, toy_ring  # pylint: disable=g-import-not-at-top,wrong-import-position
from gan_jax import losses, penalties, sweep, train, writers  # pylint: disable=g-import-not-at-top,wrong-import-position

GOLDEN_DIR = os.path.join(ROOT, "tests", "golden")
NUM_STEPS = 4
STATE_FIELDS = ("step", "rng", "g_params", "d_params", "g_batch_stats", "d_batch_stats",
                "g_opt_state", "d_opt_state", "ema_params", "g_history", "d_history",
                "trick_state")


def _tiny(**changes) -> ml_collections.ConfigDict:
  config = toy_ring.get_config()
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16, 16)
  config.model.latent_dim = 4
  config.dataset.batch_size = 16
  config.eval.every_steps = 0
  config.train.update(num_steps=NUM_STEPS, log_every=1, sample_every=1000,
                      checkpoint_every=1000, num_grid_samples=16, progress_bar=False)
  return sweep.apply_overrides(config, changes)


def cases() -> dict[str, ml_collections.ConfigDict]:
  """name -> config, for every registered objective and penalty and every trick."""
  out = {}
  main = dcgan_fashion_mnist.get_config()
  main.train.update(num_steps=3, log_every=1, sample_every=1000, checkpoint_every=1000,
                    progress_bar=False)
  main.eval.every_steps = 0
  out["main_job"] = main
  for name in losses.OBJECTIVES.names():
    out[f"objective_{name}"] = _tiny(objective=name)
  for name in penalties.PENALTIES.names():
    if name != "none":
      out[f"penalty_{name}"] = _tiny(**{"penalty.name": name, "penalty.weight": 1.0})
  tricks = {
      "label_smoothing": {"tricks.label_smoothing": 0.2},
      "instance_noise": {"tricks.instance_noise_std": 0.1, "tricks.instance_noise_anneal_steps": 2},
      "feature_matching": {"tricks.feature_matching": True},
      "historical_averaging": {"tricks.historical_averaging": 0.5},
      "unrolled": {"tricks.unrolled_steps": 2},
      "consensus": {"tricks.consensus": 0.3},
      "ema": {"tricks.ema_decay": 0.9, "tricks.ema_start": 1},
      "minibatch_discrimination": {"model.mlp.minibatch_kernels": 4},
      "virtual_batch_norm": {"model.mlp.vbn_reference_size": 8},
      "d_batch_norm": {"model.mlp.d_batch_norm": True},
      "weight_clip_rmsprop": {"objective": "wasserstein", "weight_clip": 0.05,
                              "optimizer_d.name": "rmsprop", "optimizer_g.name": "rmsprop"},
      "critic_steps_3": {"num_critic_steps": 3},
      "share_latents": {"share_latents": True},
      "warmup_sgd_decay_clip": {"optimizer_d.warmup_steps": 1, "optimizer_g.name": "sgd",
                                "optimizer_g.momentum": 0.9, "optimizer_d.weight_decay": 0.01,
                                "optimizer_d.grad_clip_norm": 0.5},
      "two_seeds": {"num_seeds": 2},
      "fake_pool": {"tricks.fake_pool_size": 24},  # batch 16: full after 2 steps, then mixes
      "spectral_norm_r1": {"model.d_spectral_norm": True, "penalty.name": "r1",
                           "penalty.weight": 1.0},
  }
  for name, changes in tricks.items():
    out[f"trick_{name}"] = _tiny(**changes)
  return out


def cpu_class() -> str:
  """The CPU vendor and the vector units XLA:CPU picks kernels by ("AuthenticAMD
  avx2 avx512f"): float reductions of convolutions and batch norm, and so their
  bits, differ between classes, while one class reproduces them exactly."""
  vendor, flags = "unknown", set()
  if os.path.exists("/proc/cpuinfo"):
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id":
          vendor = value.strip()
        elif key.strip() == "flags":
          flags = set(value.split())
          break
  units = [u for u in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if u in flags]
  return " ".join([vendor, *units])


def leaf_digest(array: np.ndarray) -> str:
  array = np.ascontiguousarray(array)
  return hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()


def run_case(config: ml_collections.ConfigDict) -> tuple[dict[str, np.ndarray], list[dict]]:
  """({leaf path: array}, reproducible metric rows) after training `config`."""
  workdir = tempfile.mkdtemp(prefix="golden_")
  noop = lambda *args, **kwargs: None  # PNGs and figures: no state, no metrics, and slow
  try:
    with mock.patch.object(train, "_log_samples", noop), \
         mock.patch.object(train, "write_figures", noop):
      state = train.train_and_evaluate(config, workdir)
    rows = writers.reproducible(writers.read_metrics(workdir))
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  leaves = {}
  for field in STATE_FIELDS:
    for path, leaf in jax.tree_util.tree_leaves_with_path(getattr(state, field)):
      leaves[field + jax.tree_util.keystr(path)] = np.asarray(leaf)
  return leaves, rows


def record(names: list[str] | None = None) -> None:
  os.makedirs(GOLDEN_DIR, exist_ok=True)
  for name, config in cases().items():
    if names and name not in names:
      continue
    leaves, rows = run_case(config)
    with open(os.path.join(GOLDEN_DIR, f"{name}.json"), "w") as f:
      json.dump({"digests": {k: leaf_digest(v) for k, v in leaves.items()}, "rows": rows,
                 "cpu_class": cpu_class(), "config": json.loads(config.to_json_best_effort())}, f, indent=1, sort_keys=True)
    if name != "main_job":
      np.savez_compressed(os.path.join(GOLDEN_DIR, f"{name}.npz"), **leaves)
    print(f"recorded {name}: {len(leaves)} leaves, {len(rows)} rows", flush=True)


if __name__ == "__main__":
  record(sys.argv[1:] or None)
