"""Optimizer chains: clipping order, coupled weight decay, warm-up, weight clipping."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.configs import base
from gan_jax import optimizers


def _sgd(**overrides):
  return base.optimizer_config(name="sgd", learning_rate=0.01, **overrides)


def test_gradient_norm_clipping_preserves_direction():
  params = {"w": jnp.ones((3,)), "b": jnp.ones((4,))}
  grads = {"w": jnp.full((3,), 100.0), "b": jnp.full((4,), -50.0)}
  tx = optimizers.make_optimizer(base.optimizer_config(name="sgd", learning_rate=1.0,
                                                       grad_clip_norm=1.0))
  updates, _ = tx.update(grads, tx.init(params), params)
  assert float(optax.tree.norm(updates)) == pytest.approx(1.0, rel=1e-5)
  np.testing.assert_allclose(updates["w"] / updates["b"][0], grads["w"] / grads["b"][0], rtol=1e-5)


def test_full_chain_order_clip_decay_scale_then_weight_clip():
  c = 0.01
  params = {"w": jnp.asarray([0.005, -0.5, 0.0])}
  grads = {"w": jnp.asarray([-300.0, 0.0, 400.0])}
  tx = optimizers.make_optimizer(_sgd(grad_clip_norm=1.0, weight_decay=0.1), weight_clip=c)
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  clipped_grad = np.array([-0.6, 0.0, 0.8])  # norm 500 -> 1
  unclipped = params["w"] - 0.01 * (clipped_grad + 0.1 * params["w"])  # coupled decay
  np.testing.assert_allclose(new["w"], np.clip(unclipped, -c, c), rtol=1e-6)
  assert float(jnp.abs(new["w"]).max()) <= c


def test_warmup_schedule_is_lr_over_100_then_10_then_lr():
  tx = optimizers.make_optimizer(base.optimizer_config(name="sgd", learning_rate=1.0,
                                                       warmup_steps=3))
  params = {"w": jnp.zeros(())}
  state = tx.init(params)
  steps = []
  for _ in range(8):
    updates, state = tx.update({"w": jnp.ones(())}, state, params)
    steps.append(-float(updates["w"]))
  np.testing.assert_allclose(steps, [0.01] * 3 + [0.1] * 3 + [1.0] * 2, rtol=1e-6)


def test_rmsprop_matches_pytorch_formula():
  tx = optimizers.make_optimizer(base.optimizer_config(name="rmsprop", learning_rate=0.1,
                                                       decay=0.99, eps=1e-8))
  params = {"w": jnp.zeros(())}
  state = tx.init(params)
  updates, state = tx.update({"w": jnp.asarray(2.0)}, state, params)
  # v = 0.01 * 4; update = -lr * g / (sqrt(v) + eps)
  assert float(updates["w"]) == pytest.approx(-0.1 * 2.0 / (np.sqrt(0.04) + 1e-8), rel=1e-5)


@pytest.mark.parametrize("overrides,message", [
    ({"name": "adamw"}, "Unknown optimizer 'adamw'; valid choices: adam, rmsprop, sgd"),
    ({"learning_rate": 0.0}, "optimizer.learning_rate must be a finite number > 0"),
    ({"learning_rate": float("nan")}, "optimizer.learning_rate must be a finite number > 0"),
    ({"weight_decay": -1.0}, "optimizer.weight_decay must be a finite number >= 0"),
    ({"warmup_steps": -2}, "optimizer.warmup_steps must be an integer >= 0"),
    ({"b1": 1.5}, r"optimizer.b1 must be a finite number in \[0, 1\)"),
])
def test_bad_values_fail_clearly(overrides, message):
  with pytest.raises(ValueError, match=message):
    optimizers.make_optimizer(base.optimizer_config(**overrides))


def test_seed004_warm_start_schedule_phases():
  """The seed's warm start: a JS run of 6 of its epochs (60,000 / 64 batches each)
  at a constant 2e-4 with D weight decay 1e-5, then the target run ramps
  alpha/100 -> alpha/10 -> alpha = 1e-4, one such epoch per phase, from its own
  step 0; the cold f-GANs keep the seed's default constant 2e-4."""
  from experiments import seed004_mlp  # pylint: disable=g-import-not-at-top
  js = seed004_mlp.get_config("fgan_js_warmup")
  assert js.train.num_steps == 6 * 937 == seed004_mlp.WARMUP_STEPS
  assert js.optimizer_d.weight_decay == 1e-5 and js.objective == "fgan_js"
  for opt in (js.optimizer_g, js.optimizer_d):
    assert optimizers.learning_rate_schedule(opt) == 2e-4  # no ramp inside the warm-up
  for div in seed004_mlp.WARM_DIVERGENCES:
    warm = seed004_mlp.get_config(f"fgan_{div}_warm")
    assert warm.warm_start.workdir and warm.objective == f"fgan_{div}"
    for opt in (warm.optimizer_g, warm.optimizer_d):
      schedule = optimizers.learning_rate_schedule(opt)
      rates = [float(schedule(n)) for n in (0, 936, 937, 1873, 1874, 9000)]
      np.testing.assert_allclose(rates, [1e-6, 1e-6, 1e-5, 1e-5, 1e-4, 1e-4], rtol=1e-6)
  cold = seed004_mlp.get_config("fgan_kl")
  assert not cold.warm_start.workdir
  assert optimizers.learning_rate_schedule(cold.optimizer_d) == 2e-4
