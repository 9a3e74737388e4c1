"""tools/benchmark.py: the timed steps are the peer's steps; the table's numbers."""

import os
import re

import pytest

from tools import benchmark
from gan_jax import steps


@pytest.mark.parametrize("name,objective,k,optimizer,lr,penalty", [
    ("ns", "non_saturating", 1, "adam", 2e-4, "none"),
    ("wgan", "wasserstein", 5, "rmsprop", 5e-5, "none"),
    ("wgan_gp", "wasserstein", 5, "adam", 1e-4, "wgan_gp"),
    ("r1", "non_saturating", 1, "adam", 2e-4, "r1"),
])
def test_objective_configs_are_the_peer_steps(name, objective, k, optimizer, lr, penalty):
  config = benchmark.objective_config(name, batch_size=256, conv_impl="im2col")
  assert (config.objective, config.num_critic_steps, config.penalty.name) == (objective, k, penalty)
  for opt in (config.optimizer_g, config.optimizer_d):
    assert (opt.name, opt.learning_rate) == (optimizer, lr)
  assert config.weight_clip == (0.01 if name == "wgan" else 0.0)
  assert (config.dataset.batch_size, config.model.conv_impl) == (256, "im2col")
  assert config.model.name == "dcgan28"
  assert config.share_latents == (k == 1)  # the peer shares G(z) when it can
  fresh = benchmark.objective_config(name, batch_size=8, conv_impl="xla", share_latents=False)
  assert not fresh.share_latents


def test_penalty_weights_equal_the_peer_constants():
  """The peer's R1 term is 0.5 * gamma * E||grad||^2 and its GP term lambda * (...)."""
  if not os.path.exists(benchmark.PEER):
    pytest.skip("the PyTorch peer (../shared/peers) is not beside this checkout")
  with open(benchmark.PEER) as f:
    source = f.read()
  const = {k: float(v) for k, v in re.findall(r"^([A-Z0-9_]+) = ([0-9.]+)", source, re.M)}
  r1 = benchmark.objective_config("r1", batch_size=8, conv_impl="xla")
  gp = benchmark.objective_config("wgan_gp", batch_size=8, conv_impl="xla")
  wgan = benchmark.objective_config("wgan", batch_size=8, conv_impl="xla")
  assert steps.penalty_coefficient("r1", r1.penalty.weight) == 0.5 * const["R1_GAMMA"]
  assert steps.penalty_coefficient("wgan_gp", gp.penalty.weight) == const["GP_LAMBDA"]
  assert wgan.weight_clip == const["WGAN_CLIP"]
  assert wgan.num_critic_steps == const["N_CRITIC"] == gp.num_critic_steps


def test_unknown_objective_lists_the_valid_ones():
  with pytest.raises(ValueError, match="wgan_gp"):
    benchmark.objective_config("lsgan", batch_size=8, conv_impl="xla")


@pytest.mark.slow
def test_time_step_measures_a_compiled_step():
  config = benchmark.objective_config("wgan_gp", batch_size=4, conv_impl="xla")
  config.model.name = "mlp"
  config.model.mlp.update(g_hidden=(16,), d_hidden=(16,))
  row = benchmark.time_step(config, steps_=3, warmup=1)
  assert row["ms"] > 0 and row["compile_s"] > 0
  assert row["steps_per_s"] == pytest.approx(1e3 / row["ms"])
  assert row["images_per_s"] == pytest.approx(5 * 4 * row["steps_per_s"])
  # Five critic updates with a penalty cost more than the G matmuls alone.
  assert row["gflop"] > 5 * 2 * 4 * (100 * 16 + 16 * 784) / 1e9
  assert row["gflops"] == pytest.approx(row["gflop"] * row["steps_per_s"])


def test_table_ratio_is_peer_time_over_ours():
  row = dict(name="ns", batch=64, k=1, ms=100.0, steps_per_s=10.0, images_per_s=640.0,
             compile_s=2.0, gflop=30.0, gflops=300.0, foreign_cores=0.0, torch_ms=250.0)
  text = benchmark.table([row], peak=600.0, with_peer=True)
  last = [c.strip() for c in text.splitlines()[-1].split("|")[1:-1]]
  assert last[0] == "ns" and last[3] == "100.0"
  assert last[9] == "50"          # 300 of 600 GFLOP/s
  assert last[-1] == "2.50x"
  assert "PyTorch" not in benchmark.table([row], peak=600.0, with_peer=False)


@pytest.mark.slow
def test_rounds_interleave_the_peer_and_take_medians():
  config = benchmark.objective_config("ns", batch_size=4, conv_impl="xla")
  config.model.name = "mlp"
  config.model.mlp.update(g_hidden=(16,), d_hidden=(16,))
  peer_ms = iter([1000.0, 3000.0, 2000.0])
  calls = []

  def peer():
    calls.append(len(calls))
    return next(peer_ms)
  row = benchmark.time_step(config, steps_=2, warmup=1, rounds=3, between=peer)
  assert calls == [0, 1, 2] and len(row["round_ms"]) == 3
  assert row["ms"] == pytest.approx(sorted(row["round_ms"])[1])
  assert row["torch_ms"] == 2000.0
  assert row["ratios"] == pytest.approx(
      [p / m for p, m in zip([1000.0, 3000.0, 2000.0], row["round_ms"])])
  text = benchmark.table([dict(row, name="ns", batch=4, k=1)], peak=600.0, with_peer=True)
  want = f"{sorted(row['ratios'])[1]:.2f}x ({min(row['ratios']):.2f}-{max(row['ratios']):.2f})"
  assert text.splitlines()[-1].split("|")[-2].strip() == want
  with pytest.raises(ValueError, match="rounds"):
    benchmark.time_step(config, steps_=2, warmup=1, rounds=0)
