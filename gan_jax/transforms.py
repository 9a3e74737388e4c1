"""Optax transformations for the discriminator: weight clipping and friends.

WGAN (Arjovsky et al. 2017) clips every critic weight to [-c, c] after each
critic update (c = 0.01). Optax transformations act on updates, not on
parameters, so `clip_weights_after_update(c)` is a `GradientTransformation`
that must be the last element of the chain: given the optimizer's proposed
updates u and the current params p, it returns u' with
p + u' = clip(p + u, -c, c), so that `optax.apply_updates(params, updates)`
lands in [-c, c] (exactly, float rounding included). It needs `params` in
`update` (it raises otherwise). `clip_weights(params, c)` is the same
projection applied to params directly.

`gan_jax.optimizers.make_optimizer` puts it at the end of a network's chain
when `weight_clip > 0`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

PyTree = Any

# Float rounding in p + (y - p) can land one ulp outside [-c, c] when p is far
# outside the box; each nudge moves the update by one ulp toward the box.
_MAX_NUDGES = 4


def _check_clip_value(c: float) -> None:
  if not c > 0:
    raise ValueError(f"weight clipping bound c must be positive, got {c}")


def clip_weights(params: PyTree, c: float) -> PyTree:
  """Clips every leaf of `params` to [-c, c].

  Args:
    params: a pytree of arrays.
    c: positive bound.

  Returns:
    The clipped pytree (same structure, shapes and dtypes).

  Raises:
    ValueError: if c is not positive.
  """
  _check_clip_value(c)
  return jax.tree.map(lambda p: jnp.clip(p, -c, c), params)


def _clipping_update(p: jax.Array, u: jax.Array, c: float) -> jax.Array:
  """Returns u' such that fl(p + u') is in [-c, c] and equals clip(p + u)."""
  p = jnp.asarray(p)
  u = jnp.asarray(u).astype(p.dtype)
  target = jnp.clip(p + u, -c, c)
  update = target - p
  # optax.apply_updates computes p + update in p's dtype; make sure the rounded
  # sum stays in the box (it is off by at most a few ulps of |p| before this).
  for _ in range(_MAX_NUDGES):
    landed = p + update
    update = jnp.where(landed > c, jnp.nextafter(update, -jnp.inf), update)
    update = jnp.where(landed < -c, jnp.nextafter(update, jnp.inf), update)
  return update


class WeightClippingState(NamedTuple):
  """Weight clipping is stateless."""


def clip_weights_after_update(c: float) -> optax.GradientTransformation:
  """Updates that move params to clip(params + updates, -c, c).

  Put it last in an `optax.chain`, after the optimizer's scaling, so that it
  sees the final updates:
  `optax.chain(optax.rmsprop(5e-5), clip_weights_after_update(0.01))`.

  Args:
    c: positive bound (0.01 in WGAN).

  Returns:
    A `GradientTransformation` whose `update(updates, state, params)` requires
    params.

  Raises:
    ValueError: if c is not positive, or (from `update`) if params is None.
  """
  _check_clip_value(c)

  def init_fn(params: PyTree) -> WeightClippingState:
    del params
    return WeightClippingState()

  def update_fn(updates: PyTree, state: WeightClippingState,
                params: PyTree | None = None):
    if params is None:
      raise ValueError(
          "clip_weights_after_update needs the current params to project "
          "params + updates onto [-c, c]: call update(updates, state, params)")
    new_updates = jax.tree.map(
        lambda p, u: _clipping_update(p, u, c), params, updates)
    return new_updates, state

  return optax.GradientTransformation(init_fn, update_fn)
