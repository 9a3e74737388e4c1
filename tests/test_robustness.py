"""Nothing lost, nothing silently wrong: each test reproduces a bug that existed.

Bad values are refused before anything is written; metric files survive a
kill; a changed checkpoint byte, a diverged state, a second process, a
changed config and a SIGTERM are each caught; outputs that a resume does not
need are best-effort.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import chex
import flax
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments import toy_ring
from gan_jax import checkpoints, compat, config_checks, guards, runloop, train, viz, writers
from gan_jax import workdir as workdir_lib
from gan_jax.data import images
from gan_jax.errors import (ConfigError, CorruptCheckpointError, NonFiniteLossError,
                            StateOutOfBoundsError, StopRequested, WorkdirLockedError)
from gan_jax.state import create_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _toy(**train_overrides):
  """A tiny MLP GAN on the 2-D ring: about 1 s per run after compilation."""
  config = toy_ring.get_config()
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16, 16)
  config.model.latent_dim = 4
  config.dataset.batch_size = 16
  config.eval.every_steps = 0
  config.train.update(num_steps=6, log_every=2, sample_every=100, checkpoint_every=2,
                      num_grid_samples=16, progress_bar=False)
  config.train.update(train_overrides)
  return config


def _rows(workdir, key="d/loss"):
  return [r for r in writers.reproducible(writers.read_metrics(str(workdir))) if key in r]


def _state_leaves(state):
  return jax.tree.leaves((state.g_params, state.d_params, state.g_opt_state, state.d_opt_state,
                          state.rng, state.step))


# --- bad values: refused in one place, before anything is written -------------------------

@pytest.mark.parametrize("field,value,message", [
    ("optimizer_d.b1", 1.5, r"optimizer_d.b1 must be a finite number in \[0, 1\)"),
    ("penalty.weight", -10.0, "penalty.weight must be a finite number >= 0"),
    ("model.mlp.dropout_rate", 1.5, "model.mlp.dropout_rate"),
    ("dataset.num_train_examples", -1, "num_train_examples must be an integer >= 0"),
    ("model.latent_dim", 0, "latent_dim must be an integer >= 1"),
    ("eval.batch_size", 0, "eval.batch_size"),
    ("eval.extractor", "incepton", "eval.extractor must be one of 'auto', 'classifier', "
     "'inception', got 'incepton'"),
    ("optimizer_g.learning_rate", float("nan"), "learning_rate must be a finite number > 0"),
    ("optimizer_g.learning_rate", float("inf"), "learning_rate must be a finite number > 0"),
    ("train.max_checkpoints", 0, "max_checkpoints must be an integer >= 1"),  # bug 1
    ("train.num_grid_samples", 0, "num_grid_samples must be an integer >= 1"),  # bug 7
    ("model.mlp.g_hidden", (16, 0), "g_hidden must be a non-empty list, each entry an integer"),
])
def test_bad_values_are_refused_before_anything_is_written(tmp_path, field, value, message):
  config = _toy()
  *blocks, name = field.split(".")
  target = config
  for block in blocks:
    target = target[block]
  target[name] = value
  with pytest.raises(ConfigError, match=message):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_every_numeric_field_of_the_base_config_has_a_rule():
  from gan_jax.configs import base  # pylint: disable=g-import-not-at-top
  leaves = config_checks.flatten(base.get_config())
  numeric = {k for k, v in leaves.items() if not isinstance(v, str)}
  assert numeric == {k for k, r in config_checks.RULES.items() if r.kind is not str}
  assert all(isinstance(leaves[k], str) for k, r in config_checks.RULES.items() if r.kind is str)


@pytest.mark.slow
def test_max_checkpoints_zero_keeps_existing_checkpoints(tmp_path):
  train.train_and_evaluate(_toy(num_steps=4), str(tmp_path))
  with pytest.raises(ConfigError, match="max_checkpoints"):
    train.train_and_evaluate(_toy(num_steps=6, max_checkpoints=0), str(tmp_path))
  with pytest.raises(ConfigError, match="max_checkpoints"):
    checkpoints.Checkpointer(str(tmp_path), max_to_keep=0)
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]


# --- metric files --------------------------------------------------------------------------

def _write_rows(workdir, steps):
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    for s in steps:
      f.write(json.dumps({"step": s, "d/loss": float(s)}) + "\n")


def test_a_kill_while_cutting_metrics_on_resume_keeps_every_row(tmp_path, monkeypatch):
  _write_rows(tmp_path, range(1, 2001))
  calls = []

  def dies_after_ten_rows(obj):
    calls.append(1)
    if len(calls) > 10:
      raise KeyboardInterrupt("killed mid-write")
    return json.JSONEncoder().encode(obj)
  monkeypatch.setattr(writers.json, "dumps", dies_after_ten_rows)
  with pytest.raises(KeyboardInterrupt):
    writers.MetricWriter(str(tmp_path), resume_step=1500)
  monkeypatch.undo()
  assert [r["step"] for r in writers.read_metrics(str(tmp_path))] == list(range(1, 2001))
  writer = writers.MetricWriter(str(tmp_path), resume_step=1500)  # the next attempt cuts
  writer.close()
  assert [r["step"] for r in writers.read_metrics(str(tmp_path))] == list(range(1, 1501))


def test_a_row_cut_by_a_crash_is_dropped_and_later_rows_stay_readable(tmp_path):
  _write_rows(tmp_path, [1, 2])
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"step": 3, "d/lo')  # the append of step 3 was cut
  writer = writers.MetricWriter(str(tmp_path), resume_step=2)
  writer.write_scalars(3, {"d/loss": 3.0})
  writer.close()
  assert [r["step"] for r in writers.read_metrics(str(tmp_path))] == [1, 2, 3]


def test_csv_has_one_row_per_step_appended_and_rewritten_only_for_new_columns(tmp_path):
  clock = iter(range(1000, 2000))
  writer = writers.MetricWriter(str(tmp_path), clock=lambda: float(next(clock)))
  writer.write_scalars(1, {"d/loss": 1.0})
  writer.write_scalars(2, {"d/loss": 2.0})
  inode = os.stat(tmp_path / "metrics.csv").st_ino
  for step in range(3, 50):
    writer.write_scalars(step, {"d/loss": float(step)})
  assert os.stat(tmp_path / "metrics.csv").st_ino == inode  # appended in place, not replaced
  writer.write_scalars(50, {"d/loss": 50.0})
  writer.write_scalars(50, {"eval/fid": 3.0}, metadata={"num_fake": 10})  # new columns
  writer.write_scalars(51, {"d/loss": 51.0})
  writer.close()
  import csv  # pylint: disable=g-import-not-at-top
  with open(tmp_path / "metrics.csv") as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == ["step", "wall_time", "d/loss", "eval/fid", "num_fake"]
  assert [int(r["step"]) for r in rows] == list(range(1, 52))  # the eval row merged into 50's
  assert rows[49] == {"step": "50", "wall_time": "1050.0", "d/loss": "50.0", "eval/fid": "3.0",
                      "num_fake": "10"}
  assert rows[50]["d/loss"] == "51.0" and rows[50]["eval/fid"] == ""
  jsonl = writers.read_metrics(str(tmp_path))
  assert len(jsonl) == 52 and jsonl[0]["wall_time"] == 1000.0  # the record keeps both rows


# --- checkpoints: digests, legacy layout, missing steps ----------------------------------

def _largest_file(folder):
  files = [os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs]
  return max(files, key=os.path.getsize)


@pytest.mark.slow
def test_flipped_bits_in_a_checkpoints_arrays_are_refused(tmp_path):
  config = _toy(num_steps=2)
  # Arrays stored raw, unchecksummed:
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (256, 256)
  train.train_and_evaluate(config, str(tmp_path / "run"))
  for seed in range(3):
    # A copy: tensorstore caches what this process wrote, by path.
    copy = tmp_path / f"flipped_{seed}"
    shutil.copytree(tmp_path / "run", copy)
    path = _largest_file(copy / "checkpoints" / "2" / "state")
    data = bytearray(open(path, "rb").read())
    rng = np.random.default_rng(seed)
    data[rng.integers(len(data) // 4, len(data) - 64)] ^= 1 << int(rng.integers(8))
    open(path, "wb").write(bytes(data))
    config.train.num_steps = 4
    with pytest.raises(CorruptCheckpointError, match="checkpoints/2 fails its digest"):
      train.train_and_evaluate(config, str(copy))


def test_digest_names_the_changed_leaf_and_the_fallback(tmp_path):
  config = _toy()
  state = create_state(config, sample_shape=(2,))
  host = jax.device_get(state)
  ckpt = checkpoints.Checkpointer(str(tmp_path))
  ckpt.save(1, host)
  ckpt.save(2, host)
  meta_path = tmp_path / "checkpoints" / "2" / "meta" / "metadata"
  meta = json.load(open(meta_path))
  key = sorted(meta["digests"])[3]
  meta["digests"][key] = "0" * 64
  json.dump(meta, open(meta_path, "w"))
  with pytest.raises(CorruptCheckpointError,
                     match=r"fails its digest.*rm -r .*checkpoints/2\) to resume from step 1"):
    ckpt.restore(state)
  restored = ckpt.restore(state, step=1)
  chex.assert_trees_all_equal(_state_leaves(restored), _state_leaves(host))
  with pytest.raises(FileNotFoundError, match="No checkpoint at step 7.*steps 1, 2"):
    ckpt.restore(state, step=7)
  ckpt.close()


def test_a_checkpoint_written_before_digests_still_restores(tmp_path):
  config = _toy()
  host = jax.device_get(create_state(config, sample_shape=(2,)))
  options = ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=False)
  legacy = ocp.CheckpointManager(str(tmp_path / "checkpoints"), options=options)
  legacy.save(3, args=ocp.args.StandardSave(host), force=True)
  legacy.wait_until_finished()
  legacy.close()
  ckpt = checkpoints.Checkpointer(str(tmp_path))
  restored = ckpt.restore(host)
  chex.assert_trees_all_equal(_state_leaves(restored), _state_leaves(host))
  ckpt.save(4, host, meta={"sample_shape": [2]})  # new-style checkpoints after old ones
  assert ckpt.all_steps() == [3, 4] and ckpt.restore(host, step=4).step == host.step
  assert ckpt.read_meta(3) == {} and ckpt.read_meta() == {"sample_shape": [2]}
  ckpt.close()


class _StateBeforeTrickState(flax.struct.PyTreeNode):
  """GANState's leaves as checkpoints before `trick_state` existed held them."""
  step: jax.Array
  rng: jax.Array
  g_params: dict
  d_params: dict
  g_batch_stats: dict
  d_batch_stats: dict
  g_opt_state: tuple
  d_opt_state: tuple
  ema_params: dict | None
  g_history: dict | None
  d_history: dict | None


def test_a_checkpoint_written_before_the_trick_state_restores(tmp_path):
  config = _toy()
  host = jax.device_get(create_state(config, sample_shape=(2,)))
  old = _StateBeforeTrickState(**{f: getattr(host, f)
                                  for f in _StateBeforeTrickState.__annotations__})
  ckpt = checkpoints.Checkpointer(str(tmp_path))
  ckpt.save(2, old, meta={"run": "x"})
  restored = ckpt.restore(host)
  assert restored.trick_state is None and ckpt.last_meta == {"run": "x"}
  chex.assert_trees_all_equal(_state_leaves(restored), _state_leaves(host))
  config.tricks.fake_pool_size = 32  # a run that keeps a pool cannot come from it
  with pytest.raises(CorruptCheckpointError, match="cannot be restored .*trick_state"):
    ckpt.restore(jax.device_get(create_state(config, sample_shape=(2,))))
  ckpt.close()


def test_an_old_config_json_gets_the_fields_added_since_from_the_base_config(tmp_path):
  from gan_jax.configs import base  # pylint: disable=g-import-not-at-top
  recorded = base.get_config().to_dict()
  del recorded["train"]["max_param_magnitude"], recorded["eval"]["extractor"]
  recorded["train"]["num_steps"] = 7
  (tmp_path / "config.json").write_text(json.dumps(recorded))
  config = checkpoints.load_run_config(str(tmp_path))
  assert config.train.num_steps == 7  # recorded values win
  assert config.train.max_param_magnitude == 1e6 and config.eval.extractor == "auto"


def test_a_cut_config_json_is_named(tmp_path):
  (tmp_path / "config.json").write_text('{"seed": 0, "train": {"num_st')
  with pytest.raises(ConfigError, match=f"{tmp_path}/config.json is not valid JSON"):
    checkpoints.load_run_config(str(tmp_path))


# --- the state is checked before it is saved ---------------------------------------------

def test_an_exploding_state_is_never_checkpointed(tmp_path):
  # Step 1's metrics come from the weights before its update, so they are finite;
  # the update itself moves G's weights by about the learning rate.
  config = _toy(num_steps=4, checkpoint_every=1, log_every=1)
  config.optimizer_g.learning_rate = 1e8
  with pytest.raises(StateOutOfBoundsError,
                     match=r"at step 1 .*g_params.*max_param_magnitude = 1e\+06.*none yet"):
    train.train_and_evaluate(config, str(tmp_path))
  assert not os.listdir(tmp_path / "checkpoints")


def test_check_state_catches_nan_anywhere_and_large_weights_only():
  host = jax.device_get(create_state(_toy(), sample_shape=(2,)))
  guards.check_state(host, step=1, max_magnitude=1e6, last_good="x")
  big = host.replace(g_params=jax.tree.map(lambda p: p + 5.7e25, host.g_params))
  with pytest.raises(StateOutOfBoundsError, match=r"5.7e\+25 > train.max_param_magnitude"):
    guards.check_state(big, step=1, max_magnitude=1e6, last_good="x")
  guards.check_state(big, step=1, max_magnitude=0, last_good="x")  # 0: no bound
  nan_opt = host.replace(d_opt_state=jax.tree.map(lambda a: a * np.nan, host.d_opt_state))
  with pytest.raises(NonFiniteLossError, match="non-finite value.*d_opt_state"):
    guards.check_state(nan_opt, step=3, max_magnitude=0, last_good="x")


# --- the workdir: one process, a truthful config.json --------------------------------------

@pytest.mark.slow
def test_a_workdir_in_use_is_refused_and_a_stale_lock_taken_over(tmp_path):
  sleeper = subprocess.Popen(["sleep", "60"])
  try:
    lock = tmp_path / workdir_lib.LOCK_FILE
    lock.write_text(json.dumps({"pid": sleeper.pid, "host": os.uname().nodename, "since": 0}))
    with pytest.raises(WorkdirLockedError, match=f"in use by process {sleeper.pid}"):
      train.train_and_evaluate(_toy(), str(tmp_path))
    assert not (tmp_path / "config.json").exists()
  finally:
    sleeper.kill()
    sleeper.wait()
  train.train_and_evaluate(_toy(num_steps=2), str(tmp_path))  # the holder is gone: stale
  assert not lock.exists()  # released at the end


@pytest.mark.slow
def test_a_changed_config_is_refused_on_resume(tmp_path):
  train.train_and_evaluate(_toy(num_steps=2), str(tmp_path))
  recorded = (tmp_path / "config.json").read_text()
  changed = _toy(num_steps=4)
  changed.optimizer_g.learning_rate = 1e-2
  changed.seed = 3
  with pytest.raises(ConfigError, match=r"optimizer_g.learning_rate: 0.001 -> 0.01; seed: 0 -> 3"):
    train.train_and_evaluate(changed, str(tmp_path))
  assert (tmp_path / "config.json").read_text() == recorded
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2"]
  # Run length and logging may change; the old config is kept beside the new one.
  train.train_and_evaluate(_toy(num_steps=4, log_every=1), str(tmp_path))
  kept = json.load(open(tmp_path / "config_history" / "config_step_2.json"))
  assert kept["train"]["num_steps"] == 2
  assert json.load(open(tmp_path / "config.json"))["train"]["num_steps"] == 4
  changed.train.num_steps = 6
  train.train_and_evaluate(changed, str(tmp_path), allow_config_change=True)
  assert json.load(open(tmp_path / "config.json"))["seed"] == 3
  assert os.path.exists(tmp_path / "config_history" / "config_step_4.json")


@pytest.mark.slow
def test_a_run_recorded_before_a_field_existed_resumes(tmp_path):
  """An upgrade that adds a config field does not make old runs 'another config'."""
  train.train_and_evaluate(_toy(num_steps=2), str(tmp_path))
  recorded = json.load(open(tmp_path / "config.json"))
  del recorded["eval"]["extractor"], recorded["train"]["max_param_magnitude"]
  (tmp_path / "config.json").write_text(json.dumps(recorded))
  state = train.train_and_evaluate(_toy(num_steps=4), str(tmp_path))
  assert int(state.step) == 4
  assert json.load(open(tmp_path / "config.json"))["eval"]["extractor"] == "auto"


@pytest.mark.slow
def test_a_run_recorded_with_the_flat_model_block_resumes(tmp_path):
  """config.json of a run from before the per-family model blocks (every model
  field in one flat block, conv_impl 'fft') is the same run as the new config."""
  train.train_and_evaluate(_toy(num_steps=2), str(tmp_path))
  recorded = json.load(open(tmp_path / "config.json"))
  model = recorded["model"]
  flat = {"name": model["name"], "latent_dim": model["latent_dim"], "conv_impl": "fft",
          **model["dcgan28"], **model["dcgan"], **model["resnet"], **model["mlp"]}
  flat["dropout_rate"] = model["mlp"]["dropout_rate"]  # the mlp read the one flat field
  assert set(flat) - {"name", "latent_dim", "conv_impl"} == compat.FLAT_MODEL_FIELDS
  (tmp_path / "config.json").write_text(json.dumps({**recorded, "model": flat}))
  old = checkpoints.load_run_config(str(tmp_path))
  assert tuple(old.model.mlp.g_hidden) == (16, 16) and "g_hidden" not in old.model
  assert old.model.dcgan.nf == 64  # a block the mlp ignores: its default
  state = train.train_and_evaluate(_toy(num_steps=4), str(tmp_path))
  assert int(state.step) == 4
  assert json.load(open(tmp_path / "config.json"))["model"]["mlp"]["g_hidden"] == [16, 16]
  changed = _toy(num_steps=6)
  changed.model.mlp.d_hidden = (8, 8)
  with pytest.raises(ConfigError, match=r"model.mlp.d_hidden: \[16, 16\] -> \[8, 8\]"):
    train.train_and_evaluate(changed, str(tmp_path))


@pytest.mark.slow
def test_num_steps_at_or_below_the_resumed_step(tmp_path, caplog):
  train.train_and_evaluate(_toy(num_steps=4), str(tmp_path))
  with pytest.raises(ConfigError, match="at step 4, past train.num_steps=2"):
    train.train_and_evaluate(_toy(num_steps=2), str(tmp_path))
  state = train.train_and_evaluate(_toy(num_steps=4), str(tmp_path))
  assert int(state.step) == 4 and "nothing to train" in caplog.text


# --- outputs a resume does not need are best-effort -----------------------------------------

@pytest.mark.slow
def test_a_failing_sample_write_is_a_warning_after_the_checkpoint(tmp_path, monkeypatch, caplog):
  def disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(viz, "save_samples", disk_full)
  monkeypatch.setattr(viz, "plot_curves", disk_full)
  state = train.train_and_evaluate(_toy(num_steps=4, sample_every=2), str(tmp_path))
  assert int(state.step) == 4 and sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]
  assert "Could not write the samples of step 2" in caplog.text
  assert "No space left on device" in caplog.text


# --- a stop request saves the step in progress -----------------------------------------------

@pytest.mark.slow
def test_a_stop_saves_the_current_step_and_resumes_exactly(tmp_path, monkeypatch):
  straight = train.train_and_evaluate(_toy(num_steps=8, log_every=4, checkpoint_every=4),
                                      str(tmp_path / "straight"))
  real_agreed = runloop._stop_agreed  # pylint: disable=protected-access
  calls = []

  def signal_during_step_3(stop, *, log_now):
    calls.append(1)
    if len(calls) == 3:
      stop.requested = signal.SIGTERM
    return real_agreed(stop, log_now=log_now)
  monkeypatch.setattr(runloop, "_stop_agreed", signal_during_step_3)
  with pytest.raises(StopRequested, match="SIGTERM after step 3") as info:
    train.train_and_evaluate(_toy(num_steps=8, log_every=4, checkpoint_every=4),
                             str(tmp_path / "stopped"))
  assert info.value.signum == signal.SIGTERM
  assert sorted(os.listdir(tmp_path / "stopped" / "checkpoints")) == ["3"]
  monkeypatch.undo()
  resumed = train.train_and_evaluate(_toy(num_steps=8, log_every=4, checkpoint_every=4),
                                     str(tmp_path / "stopped"))
  chex.assert_trees_all_equal(_state_leaves(resumed), _state_leaves(straight))
  # The step-4 row averages steps 1-4 in both runs: the pending steps 1-3 were saved.
  assert _rows(tmp_path / "stopped") == _rows(tmp_path / "straight")


@pytest.mark.slow
def test_sigterm_to_launch_exits_143_with_one_line_and_a_checkpoint(tmp_path):
  workdir = tmp_path / "run"
  cmd = [sys.executable, os.path.join(ROOT, "launch.py"), "--config=experiments/toy_ring.py",
         f"--workdir={workdir}", "--config.train.num_steps=1000000",
         "--config.train.checkpoint_every=100000", "--config.train.log_every=100",
         "--config.eval.every_steps=0", "--config.train.progress_bar=False",
         "--config.train.sample_every=100000"]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  deadline = time.time() + 120
  while not writers.read_metrics(str(workdir)) and time.time() < deadline:
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err[-2000:]
  last = err.strip().splitlines()[-1]
  assert last.startswith("gan_jax: StopRequested: Stopped by SIGTERM after step"), last
  step = int(last.split("after step ")[1].split(";")[0])
  assert os.listdir(workdir / "checkpoints") == [str(step)] and step >= 100
  assert "Traceback" not in err and not (workdir / workdir_lib.LOCK_FILE).exists()


# --- errors as one line -----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("override,message", [
    ("--config.optimizer_d.b1=1.5", "gan_jax: ConfigError: config.optimizer_d.b1 must be"),
    ("--config.foo=1", "gan_jax: ConfigError: an override names no config field ('foo')"),
])
def test_launch_prints_a_user_error_as_one_line(tmp_path, override, message):
  out = subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"),
                        "--config=experiments/toy_ring.py", f"--workdir={tmp_path}/run", override],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert out.returncode in (1, 2)
  assert out.stderr.strip().splitlines()[-1].startswith(message), out.stderr[-2000:]
  assert "Traceback" not in out.stderr


# --- data ---------------------------------------------------------------------------------------

def test_offline_tfds_fails_fast(tmp_path, monkeypatch):
  monkeypatch.setattr(images, "network_reachable", lambda *a, **k: False)
  start = time.perf_counter()
  with pytest.raises(images.DatasetNotFoundError, match="offline.*mnist_5k"):
    images.load_images("mnist", split="train", source="tfds", data_dir=str(tmp_path))
  assert time.perf_counter() - start < 10


def test_network_probe_gives_up_within_its_timeout():
  start = time.perf_counter()
  images.network_reachable("10.255.255.1", timeout_s=0.5)  # unroutable: times out
  assert time.perf_counter() - start < 2


@pytest.mark.slow
def test_resuming_on_other_cpus_warns_that_it_is_not_bit_exact(tmp_path, monkeypatch, caplog):
  train.train_and_evaluate(_toy(num_steps=2), str(tmp_path))
  caplog.clear()
  train.train_and_evaluate(_toy(num_steps=4), str(tmp_path))
  assert "not bit-exact" not in caplog.text
  record = train.run_record
  monkeypatch.setattr(train, "run_record", lambda runner: {**record(runner), "cpu_count": 1000})
  train.train_and_evaluate(_toy(num_steps=6), str(tmp_path))
  assert "not bit-exact" in caplog.text and "'cpu_count': 1000" in caplog.text
