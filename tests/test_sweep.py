"""Sweeps: expansion counts and order, overrides on locked configs, launch --sweep."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from experiments import dcgan_cifar10
from gan_jax.configs import base
from gan_jax import sweep as sweep_lib
from gan_jax.errors import NonFiniteLossError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny experiment: the MLP pair on the 2-D ring, two generator steps per run.
# It registers its own objective: --sweep imports the file a second time.
TINY_EXPERIMENT = textwrap.dedent('''\
    import jax

    from gan_jax.configs import base
    from gan_jax import losses
    from gan_jax import sweep as sweep_lib


    def _squared_hinge_d_loss(*, real_logits, fake_logits):
      return jax.nn.relu(1.0 - real_logits) ** 2 + jax.nn.relu(1.0 + fake_logits) ** 2


    losses.OBJECTIVES.register("tiny_sq_hinge", losses.Objective(
        "tiny_sq_hinge", d_loss=_squared_hinge_d_loss, g_loss=lambda *, fake_logits: -fake_logits))


    def get_config(arg=None):
      config = base.get_config()
      config.seed = int(arg or 0)
      config.dataset.name = "ring"
      config.dataset.batch_size = 16
      config.model.update(name="mlp", latent_dim=4)
      config.model.mlp.update(g_hidden=(8,), d_hidden=(8,), dropout_rate=0.0,
                              output_activation="none")
      config.train.update(num_steps=2, log_every=1, sample_every=2, checkpoint_every=2,
                          num_grid_samples=16, progress_bar=False)
      return config


    def get_sweep(arg=None):
      return sweep_lib.product(
          sweep_lib.sweep("config.model.latent_dim", [int(arg)]),
          sweep_lib.zipit(sweep_lib.sweep("config.objective", ["non_saturating", "tiny_sq_hinge"]),
                          sweep_lib.sweep("optimizer_d.learning_rate", [1e-3, 3e-4])))
''')


def _locked_config():
  config = base.get_config()
  config.lock()
  return config


def test_sweep_prefixes_names_and_rejects_empty_ones():
  assert sweep_lib.sweep("a.b", [1, 2]) == [{"config.a.b": 1}, {"config.a.b": 2}]
  assert sweep_lib.sweep("config.a", (3,)) == [{"config.a": 3}]
  for bad in ("", "config.", "a..b"):
    with pytest.raises(ValueError, match="dotted path"):
      sweep_lib.sweep(bad, [1])
  with pytest.raises(ValueError, match="no values"):
    sweep_lib.sweep("a", [])


def test_product_counts_and_order_last_fastest():
  runs = sweep_lib.product(sweep_lib.sweep("a", [1, 2, 3]), sweep_lib.sweep("b", "xy"),
                           sweep_lib.sweep("c", [True]))
  assert len(runs) == 6
  assert runs[0] == {"config.a": 1, "config.b": "x", "config.c": True}
  assert runs[1] == {"config.a": 1, "config.b": "y", "config.c": True}
  assert runs[-1] == {"config.a": 3, "config.b": "y", "config.c": True}
  assert len({(r["config.a"], r["config.b"]) for r in runs}) == 6
  assert sweep_lib.product() == [{}]


def test_zipit_pairs_elementwise_and_nests_in_product():
  lrs = sweep_lib.zipit(sweep_lib.sweep("g.lr", [1, 2, 3]), sweep_lib.sweep("d.lr", [4, 5, 6]))
  assert lrs == [{"config.g.lr": 1, "config.d.lr": 4}, {"config.g.lr": 2, "config.d.lr": 5},
                 {"config.g.lr": 3, "config.d.lr": 6}]
  runs = sweep_lib.product(lrs, sweep_lib.sweep("objective", ["a", "b"]))
  assert len(runs) == 6 and all(len(r) == 3 for r in runs)


def test_zipit_length_mismatch_names_the_lengths():
  with pytest.raises(ValueError, match=r"equal length.*\[3, 2\]"):
    sweep_lib.zipit(sweep_lib.sweep("a", [1, 2, 3]), sweep_lib.sweep("b", [1, 2]))


def test_combining_sweeps_that_set_the_same_key_fails():
  with pytest.raises(ValueError, match="'config.a' is set by two"):
    sweep_lib.product(sweep_lib.sweep("a", [1]), sweep_lib.sweep("config.a", [2]))
  with pytest.raises(ValueError, match="'config.a' is set by two"):
    sweep_lib.zipit(sweep_lib.sweep("a", [1]), sweep_lib.sweep("a", [2]))


def test_dcgan_cifar10_sweep_crosses_shared_learning_rates_with_objectives():
  runs = dcgan_cifar10.get_sweep()
  assert len(runs) == 9
  assert all(r["config.optimizer_g.learning_rate"] == r["config.optimizer_d.learning_rate"]
             for r in runs)
  pairs = {(r["config.optimizer_g.learning_rate"], r["config.objective"]) for r in runs}
  assert len(pairs) == 9
  for overrides in runs:  # Every key exists in the experiment's config.
    sweep_lib.apply_overrides(_locked_config(), overrides)


def test_apply_overrides_on_a_locked_config_returns_a_locked_copy():
  config = _locked_config()
  new = sweep_lib.apply_overrides(config, {"config.optimizer_g.learning_rate": 1,
                                           "objective": "hinge", "config.model.mlp.g_hidden": [4]})
  assert new.optimizer_g.learning_rate == 1.0 and isinstance(new.optimizer_g.learning_rate, float)
  assert new.objective == "hinge" and tuple(new.model.mlp.g_hidden) == (4,)
  assert config.objective == "non_saturating" and config.optimizer_g.learning_rate == 2e-4
  assert new.is_locked
  with pytest.raises(AttributeError):
    new.new_field = 1


def test_apply_overrides_names_a_bad_key():
  config = _locked_config()
  with pytest.raises(ValueError, match=r"'config.optimizer_g.learnig_rate'.*"
                                       r"config.optimizer_g has no field 'learnig_rate'.*"
                                       r"learning_rate"):
    sweep_lib.apply_overrides(config, {"config.optimizer_g.learnig_rate": 1e-3})
  with pytest.raises(ValueError, match=r"'config.seed.x'.*config.seed has no field 'x'"):
    sweep_lib.apply_overrides(config, {"config.seed.x": 1})
  with pytest.raises(ValueError, match="config has no field 'modle'"):
    sweep_lib.apply_overrides(config, {"modle.name": "mlp"})
  with pytest.raises(TypeError, match="'config.seed'"):
    sweep_lib.apply_overrides(config, {"config.seed": "zero"})


def test_load_sweep_passes_the_arg_and_requires_get_sweep(tmp_path):
  with_arg = tmp_path / "with_arg.py"
  with_arg.write_text("def get_sweep(arg=None):\n  return [{'config.seed': int(arg)}]\n")
  assert sweep_lib.load_sweep(f"{with_arg}:5") == [{"config.seed": 5}]
  no_param = tmp_path / "no_param.py"
  no_param.write_text("def get_sweep():\n  return [{'config.seed': 1}, {'config.seed': 2}]\n")
  assert len(sweep_lib.load_sweep(f"{no_param}:ignored")) == 2
  missing = tmp_path / "missing.py"
  missing.write_text("def get_config(arg=None):\n  return None\n")
  with pytest.raises(ValueError, match=r"needs a get_sweep\(\) in .*missing.py"):
    sweep_lib.load_sweep(str(missing))
  empty = tmp_path / "empty.py"
  empty.write_text("def get_sweep():\n  return []\n")
  with pytest.raises(ValueError, match="non-empty list"):
    sweep_lib.load_sweep(str(empty))


def test_run_sweep_checks_every_override_before_training(tmp_path):
  calls = []
  with pytest.raises(ValueError, match="'config.bogus'"):
    sweep_lib.run_sweep(_locked_config(), str(tmp_path),
                        [{"config.seed": 1}, {"config.bogus": 2}],
                        lambda config, workdir: calls.append(workdir))
  assert not calls


def test_run_sweep_trains_each_index_in_its_folder(tmp_path):
  calls = []
  overrides = sweep_lib.sweep("seed", [4, 5, 6])
  dirs = sweep_lib.run_sweep(_locked_config(), str(tmp_path), overrides,
                             lambda config, workdir: calls.append((config.seed, workdir)))
  assert dirs == [str(tmp_path / f"{i}_seed={4 + i}") for i in range(3)]
  assert calls == [(4, dirs[0]), (5, dirs[1]), (6, dirs[2])]
  assert json.loads((tmp_path / "sweep.json").read_text()) == {
      "0": {"config.seed": 4}, "1": {"config.seed": 5}, "2": {"config.seed": 6}}


@pytest.mark.slow
def test_launch_sweep_end_to_end(tmp_path):
  experiment = tmp_path / "tiny_sweep.py"
  experiment.write_text(TINY_EXPERIMENT)
  workdir = tmp_path / "work"
  # The persistent compilation cache (as in conftest.py) makes reruns fast.
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             JAX_COMPILATION_CACHE_DIR=os.environ.get("JAX_COMPILATION_CACHE_DIR",
                                                      os.path.join(ROOT, ".jax_cache")),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  result = subprocess.run(
      [sys.executable, "launch.py", f"--config={experiment}:3", f"--workdir={workdir}",
       "--sweep", "--config.train.num_steps=1"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Sweep run 2/2" in result.stderr
  sweep_json = json.loads((workdir / "sweep.json").read_text())
  assert sorted(sweep_json) == ["0", "1"]
  expected = [("non_saturating", 1e-3), ("tiny_sq_hinge", 3e-4)]
  for index, (objective, lr) in enumerate(expected):
    run_dir = workdir / sweep_lib.run_dir_name(index, sweep_json[str(index)])
    assert run_dir.name == (f"{index}_model.latent_dim=3_objective={objective}_"
                            f"optimizer_d.learning_rate={lr}")
    run_config = json.loads((run_dir / "config.json").read_text())
    assert run_config["objective"] == objective
    assert run_config["optimizer_d"]["learning_rate"] == lr
    assert run_config["optimizer_g"]["learning_rate"] == 2e-4  # Not swept.
    assert run_config["model"]["latent_dim"] == 3  # get_sweep got the ':3' arg ...
    assert run_config["seed"] == 3  # ... as did get_config.
    assert run_config["train"]["num_steps"] == 1  # Command-line overrides still apply.
    assert sweep_json[str(index)] == {"config.model.latent_dim": 3, "config.objective": objective,
                                      "config.optimizer_d.learning_rate": lr}
    assert os.listdir(run_dir / "checkpoints")
  summary = (workdir / "summary.md").read_text()
  assert "| 0_model.latent_dim=3_objective=non_saturating_" in summary and "objective='tiny_sq_hinge'" in summary


def _writes_config(fail_seed=None):
  def train_fn(config, workdir):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort())
    if config.seed == fail_seed:
      raise NonFiniteLossError(f"Non-finite d/loss at step 3 (seed {config.seed})")
  return train_fn


def test_a_diverged_run_stops_the_sweep_unless_keep_going(tmp_path):
  overrides = sweep_lib.sweep("seed", [4, 5, 6])
  with pytest.raises(NonFiniteLossError):
    sweep_lib.run_sweep(_locked_config(), str(tmp_path / "a"), overrides, _writes_config(5))
  assert sorted(os.listdir(tmp_path / "a")) == ["0_seed=4", "1_seed=5", "sweep.json"]
  dirs = sweep_lib.run_sweep(_locked_config(), str(tmp_path / "b"), overrides, _writes_config(5),
                             keep_going=True)
  assert all(os.path.exists(os.path.join(d, "config.json")) for d in dirs)
  summary = (tmp_path / "b" / "summary.md").read_text()
  assert "| b | all runs | 3 |" in summary  # seeds only: one group of 3
  assert "Diverged:\n- 1_seed=5: Non-finite d/loss at step 3 (seed 5)" in summary


def test_a_sweep_started_with_index_folders_resumes_in_them(tmp_path):
  (tmp_path / "1").mkdir()
  (tmp_path / "1" / "config.json").write_text("{}")
  dirs = sweep_lib.run_sweep(_locked_config(), str(tmp_path), sweep_lib.sweep("seed", [4, 5]),
                             lambda config, workdir: None)
  assert dirs == [str(tmp_path / "0_seed=4"), str(tmp_path / "1")]
  assert sweep_lib.run_dir_name(0, {"config.model.g_hidden": (8, 8)}) == "0_model.g_hidden=-8-8-"


def test_registering_the_same_definition_twice_replaces_it_and_another_is_refused():
  from gan_jax.registry import Registry  # pylint: disable=g-import-not-at-top
  registry = Registry("objective")

  def make():
    def loss(x):
      return x
    return loss
  first, again = make(), make()  # one definition, two function objects (a re-import)
  registry.register("a", first)
  registry.register("a", again)
  assert registry.get("a") is again
  with pytest.raises(ValueError, match="'a' is already registered"):
    registry.register("a", lambda x: x)
