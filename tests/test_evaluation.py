"""Evaluation of generators: floors, metric sanity on real data, toys, the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import toy_ring
from gan_jax.configs import base
from gan_jax import data, evaluation, train, viz

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _RealImages:
  """A stand-in generator that returns real test images (optionally noised)."""

  def __init__(self, images, noise):
    self.images, self.noise = images, noise

  def generate(self, z):
    n = z.shape[0]
    idx = np.abs(np.asarray(z[:, 0] * 1e6).astype(np.int64)) % len(self.images)
    x = self.images[idx] + self.noise * np.random.default_rng(n).normal(size=self.images[idx].shape)
    return np.clip(x, -1, 1).astype(np.float32)


def _evaluator(num_samples=500):
  config = base.get_config()
  config.dataset.name = "mnist_5k"
  config.eval.num_samples = num_samples
  dataset = data.get_dataset(config.dataset)
  return evaluation.Evaluator(config, dataset), dataset


@pytest.mark.slow
def test_real_vs_real_floor_is_good_and_noise_makes_it_worse():
  evaluator, dataset = _evaluator()
  floor = evaluator.floor
  assert floor["precision"] > 0.6 and floor["recall"] > 0.6
  assert floor["score"] > 8.0  # a 97%-accurate classifier on balanced real digits
  assert evaluator.info["num_real"] == 500 and evaluator.info["extractor"].startswith("mnist_5k")
  test = dataset.real_samples(split="test", num=1000)
  evaluator._generate = lambda state, z: state.generate(z)  # no jit for the stand-in
  fids = []
  for noise in (0.0, 0.5, 1.0):
    scores = evaluator(_RealImages(test, noise))
    fids.append(scores["eval/fid"])
    assert scores["floor/fid"] == floor["fid"]
  assert fids[0] < fids[1] < fids[2]
  assert fids[0] < 3 * floor["fid"] + 1.0


def test_toy_metrics_count_modes():
  centers = np.asarray(data.toy2d.mode_centers("ring"))
  samples = np.repeat(centers[:3], 100, axis=0)
  m = evaluation.toy_metrics(samples, name="ring")
  assert m["modes_covered"] == 3 and m["high_quality"] == 1.0 and m["num_modes"] == 8
  assert m["modes_covered_loose"] == 3
  # Three more modes hit 5 std (0.1) off centre: loose at 10 std counts them, strict does not.
  blurry = np.repeat(centers[3:6] + np.array([0.1, 0.0], np.float32), 100, axis=0)
  m = evaluation.toy_metrics(np.concatenate([samples, blurry]), name="ring")
  assert (m["modes_covered"], m["modes_covered_loose"], m["high_quality"]) == (3, 6, 0.5)
  assert evaluation.toy_metrics(blurry, name="ring", loose_num_std=4.0)["modes_covered_loose"] == 0
  assert evaluation.toy_metrics(samples[:250], name="ring", min_count=60)["modes_covered"] == 2
  assert evaluation.toy_metrics(samples, name="swiss_roll") == {}


@pytest.mark.slow
def test_training_logs_eval_rows_and_figures(tmp_path):
  config = toy_ring.get_config()
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16,)
  config.train.num_steps, config.train.log_every = 20, 10
  config.train.sample_every, config.train.checkpoint_every = 10, 20
  config.train.progress_bar = False
  config.eval.every_steps, config.eval.num_samples = 10, 400
  train.train_and_evaluate(config, str(tmp_path))
  rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  evals = [r for r in rows if "eval/modes_covered" in r]
  assert [r["step"] for r in evals] == [10, 20]
  assert all(r["eval/modes_covered"] <= r["eval/modes_covered_loose"] <= 8 for r in evals)
  assert all(r["num_fake"] == 400 and r["extractor"] for r in evals)
  assert (tmp_path / "curves.png").stat().st_size > 0
  assert (tmp_path / "samples.gif").stat().st_size > 0


def test_savgol_smooths_and_handles_short_series():
  x = np.linspace(0, 1, 200)
  noisy = np.sin(6 * x) + 0.2 * np.random.default_rng(0).normal(size=200)
  smooth = viz.savgol(noisy)
  assert np.abs(smooth - np.sin(6 * x)).mean() < np.abs(noisy - np.sin(6 * x)).mean() / 2
  np.testing.assert_array_equal(viz.savgol(np.arange(3.0)), np.arange(3.0))


@pytest.mark.slow
def test_evaluate_command_scores_a_checkpoint(tmp_path):
  config = toy_ring.get_config()
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16,)
  config.train.num_steps = config.train.checkpoint_every = 5
  config.train.progress_bar = False
  train.train_and_evaluate(config, str(tmp_path))
  out = subprocess.run([sys.executable, "-m", "gan_jax.evaluation", f"--workdir={tmp_path}",
                        "--num_samples=300"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  row = json.load(open(tmp_path / "eval_step_5.json"))
  assert row["step"] == 5 and row["num_fake"] == 300 and 0 <= row["eval/modes_covered"] <= 8


def test_toy_evaluator_reads_its_counts_from_the_config():
  config = toy_ring.get_config()
  dataset = data.get_dataset(config.dataset)
  centers = np.asarray(data.toy2d.mode_centers("ring"))

  class _Fixed:  # a "generator" that puts 5 std off-centre points on 8 modes
    def generate(self, z):
      return np.resize(centers + np.array([0.1, 0.0], np.float32), (len(z), 2))

  config.eval.num_samples = config.eval.batch_size = 800
  evaluator = evaluation.Evaluator(config, dataset)
  evaluator._generate = lambda state, z: state.generate(z)  # no jit for the stand-in
  scores = evaluator(_Fixed())
  assert (scores["eval/modes_covered"], scores["eval/modes_covered_loose"]) == (0, 8)
  config.eval.modes_loose_num_std = 4.0
  evaluator = evaluation.Evaluator(config, dataset)
  evaluator._generate = lambda state, z: state.generate(z)
  assert evaluator(_Fixed())["eval/modes_covered_loose"] == 0
  config.eval.modes_min_count = 0
  with pytest.raises(ValueError, match="modes_min_count"):
    evaluation.Evaluator(config, dataset)
