"""The training loop: checkpoints, samples, exact resume, non-finite stop, config errors."""

import json
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import steps, train
from gan_jax.checkpoints import Checkpointer, CorruptCheckpointError
from gan_jax.state import create_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _assert_same_params(a, b):
  for name in ("g_params", "d_params", "g_batch_stats", "g_opt_state", "d_opt_state"):
    chex.assert_trees_all_close(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_runlocal_writes_checkpoint_samples_metrics_and_config(runlocal_config, tmp_path):
  workdir = str(tmp_path)
  state = train.train_and_evaluate(runlocal_config, workdir)
  assert int(state.step) == 4
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]
  samples = sorted(os.listdir(tmp_path / "samples"))
  assert samples == ["step_0000002.png", "step_0000004.png"]
  from PIL import Image  # pylint: disable=g-import-not-at-top
  grid = np.asarray(Image.open(tmp_path / "samples" / samples[-1]))
  assert grid.ndim == 2 and grid.std() > 0  # a greyscale grid, not blank
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  train_rows = [r for r in rows if "d/loss" in r]
  eval_rows = [r for r in rows if "eval/fid" in r]  # runlocal scores every 2 steps
  assert [r["step"] for r in train_rows] == [2, 4] and [r["step"] for r in eval_rows] == [2, 4]
  assert all(np.isfinite(r["d/loss"]) and np.isfinite(r["g/loss"]) for r in train_rows)
  assert all(r["floor/fid"] < r["eval/fid"] for r in eval_rows)
  assert os.listdir(tmp_path / "tb")
  assert json.load(open(tmp_path / "config.json"))["train"]["num_steps"] == 4


@pytest.mark.slow
def test_resume_matches_an_uninterrupted_run(runlocal_config, tmp_path):
  straight = train.train_and_evaluate(runlocal_config, str(tmp_path / "straight"))
  half = runlocal_config.copy_and_resolve_references()
  half.train.num_steps = 2
  train.train_and_evaluate(half, str(tmp_path / "resumed"))
  resumed = train.train_and_evaluate(runlocal_config, str(tmp_path / "resumed"))
  assert int(resumed.step) == int(straight.step) == 4
  _assert_same_params(resumed, straight)
  rows = [json.loads(line) for line in open(tmp_path / "resumed" / "metrics.jsonl")]
  # No duplicated or lost rows across the restart (a train and an eval row per log step).
  assert [r["step"] for r in rows if "d/loss" in r] == [2, 4]
  assert [r["step"] for r in rows if "eval/fid" in r] == [2, 4]


@pytest.mark.slow
def test_corrupt_checkpoint_is_named(runlocal_config, tmp_path):
  runlocal_config.train.num_steps = 2
  train.train_and_evaluate(runlocal_config, str(tmp_path))
  for root, _, files in os.walk(tmp_path / "checkpoints" / "2"):
    for name in files:
      if name.startswith("manifest") or name.endswith(".ocdbt") or "ocdbt" in root:
        with open(os.path.join(root, name), "wb") as f:
          f.write(b"garbage")
  runlocal_config.train.num_steps = 4
  with pytest.raises(CorruptCheckpointError, match="checkpoints/2"):
    train.train_and_evaluate(runlocal_config, str(tmp_path))


@pytest.mark.slow
def test_non_finite_loss_stops_and_names_last_good_checkpoint(runlocal_config, tmp_path):
  runlocal_config.optimizer_d.learning_rate = 1e30  # diverges within a few steps
  runlocal_config.optimizer_g.learning_rate = 1e30
  runlocal_config.train.num_steps = 6
  with pytest.raises(train.NonFiniteLossError, match=r"at step \d+.*last good checkpoint"):
    train.train_and_evaluate(runlocal_config, str(tmp_path))
  ckpts = Checkpointer(str(tmp_path))
  for step in [int(s) for s in os.listdir(tmp_path / "checkpoints")]:
    state = ckpts.restore(create_state(runlocal_config, sample_shape=(28, 28, 1)), step=step)
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(state.g_params))


def test_step_is_traced_once(runlocal_config):
  state = create_state(runlocal_config, sample_shape=(28, 28, 1))
  step_fn = steps.make_train_step(runlocal_config)
  traced = jax.jit(chex.assert_max_traces(step_fn, n=1))
  batch = jnp.zeros((1, 8, 28, 28, 1))
  for _ in range(3):
    state, metrics = traced(state, batch)
  assert int(state.step) == 3 and np.isfinite(float(metrics["g/loss"]))


@pytest.mark.slow
def test_launch_rejects_unknown_config_key_and_model(tmp_path):
  base_cmd = [sys.executable, "launch.py", "--config=experiments/dcgan_fashion_mnist.py:runlocal",
              f"--workdir={tmp_path}"]
  typo = subprocess.run(base_cmd + ["--config.train.num_stepz=3"], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert typo.returncode != 0 and 'Did you mean "num_steps"' in typo.stderr
  model = subprocess.run(base_cmd + ["--config.model.name=resnet_typo"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
  assert model.returncode != 0
  assert ("Unknown model 'resnet_typo'; valid choices: dcgan28, dcgan32, dcgan64, mlp, resnet"
          in model.stderr)


@pytest.mark.slow
def test_warm_start_copies_weights_but_not_optimizer_or_step(tmp_path):
  from experiments import seed004_mlp  # pylint: disable=g-import-not-at-top
  js = seed004_mlp.get_config("fgan_js_warmup,mnist_5k,runlocal")
  js_state = train.train_and_evaluate(js, str(tmp_path / "js"))
  kl = seed004_mlp.get_config("fgan_kl_warm,mnist_5k,runlocal")
  kl.train.num_steps = 1
  kl.warm_start.workdir = str(tmp_path / "js")
  kl.optimizer_d.learning_rate = kl.optimizer_g.learning_rate = 1e-30  # ~frozen
  kl_state = train.train_and_evaluate(kl, str(tmp_path / "kl"))
  assert int(kl_state.step) == 1
  chex.assert_trees_all_close(kl_state.g_params, js_state.g_params, atol=1e-6)
  mismatched = kl.copy_and_resolve_references()
  mismatched.model.mlp.g_hidden = (8,)
  with pytest.raises(ValueError, match="Cannot warm start"):
    train.train_and_evaluate(mismatched, str(tmp_path / "bad"))
  missing = kl.copy_and_resolve_references()
  missing.warm_start.workdir = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="config.json"):
    train.train_and_evaluate(missing, str(tmp_path / "missing"))


@pytest.mark.parametrize("module,arg", [
    ("seed000_table1", "dcgan"), ("seed000_table1", "wgan,mnist_5k"),
    ("seed000_table1", "wgan_gp,mnist"), ("seed004_mlp", "fgan_reverse_kl_warm"),
    ("seed004_mlp", "wgan_wc"), ("seed004_mlp", "wgan_gp,fashion_mnist")])
def test_seed_configs_build_steps(module, arg):
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"experiments.{module}").get_config(arg)
  steps.make_train_step(config)  # objective, penalty and k resolve
  if "wgan" in arg and "gp" not in arg:
    assert config.weight_clip == 0.01 and config.num_critic_steps == 5
  if "gp" in arg:
    assert config.penalty.name == "wgan_gp" and config.penalty.weight == 10
  with pytest.raises(ValueError, match=r"expected '\[<algo>\]"):
    importlib.import_module(f"experiments.{module}").get_config("nope")


def test_toy_modes_configs_differ_in_exactly_their_regularizer():
  from experiments import toy_modes  # pylint: disable=g-import-not-at-top
  base_json = json.loads(toy_modes.get_config("none").to_json_best_effort())
  changed = {}
  for method in toy_modes.METHODS:
    config = toy_modes.get_config(f"{method},grid")
    steps.make_train_step(config)  # penalty / trick names resolve
    assert config.dataset.name == "grid" and config.eval.every_steps == 1000
    flat = json.loads(config.to_json_best_effort())
    changed[method] = sorted(k for k in flat if k != "dataset" and flat[k] != base_json[k])
  assert changed == {"none": [], "r1": ["penalty"], "r2": ["penalty"],
                     "zero_centered": ["penalty"], "dragan": ["penalty"],
                     "instance_noise": ["tricks"], "consensus": ["tricks"]}
  with pytest.raises(ValueError, match=r"expected '\[<method>\]\[,<dataset>\]"):
    toy_modes.get_config("r3")
