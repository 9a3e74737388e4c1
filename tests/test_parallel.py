"""Data parallelism: n devices equal one device; pmap equals shard_map; two hosts
equal one; vmapped seeds equal separate runs; clear errors."""

import os
import socket
import subprocess
import sys

import chex
import numpy as np
import pytest

from gan_jax import data, parallel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "parallel_worker.py")


def _worker(args, *, devices=1, env=None):
  env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
         **(env or {})}
  return subprocess.Popen([sys.executable, WORKER, *map(str, args)], env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc, timeout=600):
  out, _ = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, out[-3000:]


def _assert_same(a_path, b_path):
  """Every array saved in b equals the one of the same name in a."""
  a, b = np.load(a_path), np.load(b_path)
  assert b.files and set(b.files) <= set(a.files)
  for key in b.files:
    np.testing.assert_allclose(a[key], b[key], rtol=2e-5, atol=2e-6, err_msg=key)


@pytest.mark.slow
def test_eight_devices_equal_one_for_shard_map_and_pmap(tmp_path):
  one = _worker(["none", 1, tmp_path / "one.npz"])
  _finish(one)
  for backend in ("shard_map", "pmap"):
    _finish(_worker([backend, 8, tmp_path / f"{backend}.npz"], devices=8))
    _assert_same(tmp_path / "one.npz", tmp_path / f"{backend}.npz")


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  _finish(_worker(["shard_map", 1, tmp_path / "single.npz"]))
  procs = [_worker(["shard_map", 0, tmp_path / "multi.npz", f"127.0.0.1:{port}", 2, pid])
           for pid in range(2)]
  for proc in procs:
    _finish(proc)
  _assert_same(tmp_path / "single.npz", tmp_path / "multi.npz")


def _ring_config(**overrides):
  sys.path.insert(0, ROOT)
  from experiments import toy_ring  # pylint: disable=g-import-not-at-top
  config = toy_ring.get_config()
  config.dataset.batch_size = 16
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16,)
  config.update(overrides)
  return config


@pytest.mark.slow
def test_vmapped_seeds_equal_separate_runs():
  config = _ring_config(num_seeds=4)
  dataset = data.get_dataset(config.dataset)
  runner = parallel.StepRunner(config, dataset)
  state = runner.place(runner.init_state())
  for step in range(3):
    state, metrics = runner(state, step)
  assert metrics["g/loss"].shape == (4,)
  for seed in range(4):
    single = _ring_config(seed=seed)
    single_runner = parallel.StepRunner(single, dataset)
    s = single_runner.place(single_runner.init_state())
    for step in range(3):
      s, _ = single_runner(s, step)
    chex.assert_trees_all_close(parallel.select_seed(state, seed).g_params, s.g_params,
                                rtol=1e-5, atol=1e-6)


def test_batch_must_divide_over_devices_and_backend_must_exist():
  dataset = data.get_dataset(_ring_config().dataset)
  with pytest.raises(ValueError, match="Unknown parallel backend 'tpu'"):
    parallel.StepRunner(_ring_config(parallel=dict(backend="tpu")), dataset)
  with pytest.raises(ValueError, match="only 1 present"):
    parallel.StepRunner(_ring_config(parallel=dict(backend="shard_map", num_devices=8)), dataset)
  odd = _ring_config()
  odd.dataset.batch_size = 15
  with pytest.raises(ValueError, match="does not divide"):
    data.get_dataset(odd.dataset).batch_at(0, seed=0, num_critic_steps=1, shard=(0, 2))


def test_host_shards_tile_the_global_batch():
  sys.path.insert(0, ROOT)
  from gan_jax.configs import base  # pylint: disable=g-import-not-at-top
  c = base.get_config().dataset
  c.update(batch_size=8, num_train_examples=64)
  ds = data.get_dataset(c)
  full = ds.batch_at(3, seed=1, num_critic_steps=2)
  parts = [ds.batch_at(3, seed=1, num_critic_steps=2, shard=(i, 4)) for i in range(4)]
  np.testing.assert_array_equal(np.concatenate(parts, axis=1), full)
