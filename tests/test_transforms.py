"""Tests for gan_jax.transforms: weight clipping and the D optimizer chain."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import transforms

C = 0.01


def _params(scale=0.3, seed=0):
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
  return {
      "conv": {"kernel": jax.random.normal(k1, (5, 5, 1, 8)) * scale,
               "bias": jax.random.normal(k2, (8,)) * scale},
      "dense": {"kernel": jax.random.normal(k3, (32, 1)) * scale},
  }


def _all_within(tree, c):
  bound = np.float32(c)
  return all(bool(jnp.all(jnp.abs(leaf) <= bound))
             for leaf in jax.tree.leaves(tree))


def test_clip_weights():
  params = _params()
  clipped = transforms.clip_weights(params, C)
  assert _all_within(clipped, C)
  for before, after in zip(jax.tree.leaves(params), jax.tree.leaves(clipped)):
    np.testing.assert_array_equal(after, jnp.clip(before, -C, C))
    assert after.dtype == before.dtype
  with pytest.raises(ValueError, match="positive"):
    transforms.clip_weights(params, 0.0)


def test_weight_clipping_keeps_every_param_in_box_after_each_update():
  """RMSprop critic steps from an unclipped init: params stay in [-c, c]."""
  params = _params(scale=0.3)
  tx = optax.chain(optax.rmsprop(5e-2),
                   transforms.clip_weights_after_update(C))
  state = tx.init(params)

  @jax.jit
  def step(params, state, key):
    grads = jax.tree.map(
        lambda p: jax.random.normal(key, p.shape) * 10.0, params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  previous = None
  for i in range(5):
    params, state = step(params, state, jax.random.PRNGKey(i))
    assert _all_within(params, C), f"step {i}"
    if previous is not None:  # the updates really move params
      moved = jax.tree.leaves(jax.tree.map(
          lambda a, b: jnp.any(a != b), params, previous))
      assert all(bool(m) for m in moved)
    previous = params


def test_weight_clipping_equals_clip_of_unclipped_step_exactly_in_box():
  """params + updates lands in the box even with float32 rounding."""
  rng = np.random.default_rng(0)
  for scale in (1e-2, 1.0, 100.0):
    p = jnp.asarray(rng.normal(size=50_000) * scale, jnp.float32)
    u = jnp.asarray(rng.normal(size=50_000) * scale, jnp.float32)
    tx = transforms.clip_weights_after_update(C)
    updates, _ = tx.update(u, tx.init(p), p)
    new = optax.apply_updates(p, updates)
    assert _all_within(new, C), scale
    np.testing.assert_allclose(new, jnp.clip(p + u, -C, C),
                               atol=4 * float(np.spacing(np.float32(scale))))
  # Inside the box the transform is the identity on updates.
  p = jnp.asarray([0.001, -0.002])
  u = jnp.asarray([0.003, 0.001])
  updates, _ = tx.update(u, tx.init(p), p)
  np.testing.assert_array_equal(updates, u)


def test_weight_clipping_needs_params():
  tx = transforms.clip_weights_after_update(C)
  params = _params()
  with pytest.raises(ValueError, match="needs the current params"):
    tx.update(params, tx.init(params))
  with pytest.raises(ValueError, match="positive"):
    transforms.clip_weights_after_update(-1.0)
