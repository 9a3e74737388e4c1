"""Training tricks as pure functions; the step switches each on from `config.tricks`.

  instance noise         N(0, s_t^2) added to every input D sees (real and
                         fake, in both updates), s_t annealed linearly to 0.
  feature matching       G minimises ||E f(x) - E f(G(z))||^2 over D's
                         penultimate features f (Salimans et al. 2016).
  historical averaging   both players add w ||theta - mean_t theta_t||^2.
  consensus optimization both players add gamma/2 ||v||^2, v the joint vector
                         field (grad_theta L_G, grad_psi L_D) (Mescheder 2017).
  generator EMA          theta_ema <- d theta_ema + (1 - d) theta after each G
                         update from `start` on (theta_ema = theta before).
Label smoothing is the real target inside the objectives' own D losses
(`gan_jax.losses`). Unrolling (Metz et al. 2017) needs the networks and lives in `steps.py`;
minibatch discrimination and virtual batch norm are layers in `models/`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
PyTree = Any

def instance_noise_std(step: Array, *, std: float, anneal_steps: int) -> Array:
  """s_t = std * max(0, 1 - step / anneal_steps); constant std if anneal_steps = 0."""
  if anneal_steps <= 0:
    return jnp.asarray(std, jnp.float32)
  return std * jnp.maximum(0.0, 1.0 - step / anneal_steps)


def feature_matching_loss(*, real_features: Array, fake_features: Array) -> Array:
  """||mean_B real_features - mean_B fake_features||^2 for [B, F] inputs -> []."""
  if real_features.shape[1:] != fake_features.shape[1:]:
    raise ValueError(f"feature shapes differ: {real_features.shape} vs {fake_features.shape}")
  diff = real_features.mean(axis=0) - fake_features.mean(axis=0)
  return jnp.sum(jnp.square(diff))


def sq_norm(tree: PyTree) -> Array:
  """Sum over leaves of ||x||^2."""
  return sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree))


def sq_distance(a: PyTree, b: PyTree) -> Array:
  """Sum over leaves of ||a - b||^2."""
  return sq_norm(jax.tree.map(jnp.subtract, a, b))


def running_mean(mean: PyTree, params: PyTree, *, count: Array) -> PyTree:
  """Mean of `count` + 1 values from the mean of the first `count` and the next one."""
  return jax.tree.map(lambda m, p: m + (p - m) / (count + 1), mean, params)


def ema_update(ema: PyTree, params: PyTree, *, decay: float, step: Array, start: int) -> PyTree:
  """EMA after generator update number `step` (0-based): a copy before `start`."""
  active = step >= start
  return jax.tree.map(lambda e, p: jnp.where(active, decay * e + (1 - decay) * p, p), ema, params)


def consensus_regularizer(*, g_field: PyTree, d_field: PyTree) -> Array:
  """1/2 ||v||^2 of the joint vector field v = (g_field, d_field)."""
  return 0.5 * (sq_norm(g_field) + sq_norm(d_field))
