"""GANState: the whole training state as one pytree.

Leaves: step, generator / discriminator parameters, their batch-norm
statistics, both optimizer states and the base RNG key. Static fields (flax
modules and optax transforms) are not leaves, so the state can be jitted,
donated and checkpointed as it is.
"""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import models as models_lib
from gan_jax import optimizers

PyTree = Any


class GANState(flax.struct.PyTreeNode):
  """Everything a GAN run needs to continue.

  Attributes:
    step: number of generator updates done, int32 [].
    rng: base PRNG key, uint32 [2]; per-step keys are `fold_in(rng, step)`.
    g_params, d_params: network parameters.
    g_batch_stats, d_batch_stats: batch-norm running statistics ({} if none).
    g_opt_state, d_opt_state: optax states.
    ema_params: generator EMA (None unless `tricks.ema_decay > 0`); samples
      and evaluation use it when present.
    g_history, d_history: running means of past parameters for historical
      averaging (None unless `tricks.historical_averaging > 0`).
    generator, discriminator: flax modules (static).
    g_tx, d_tx: optax transforms (static).
  """
  step: jax.Array
  rng: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_batch_stats: PyTree
  d_batch_stats: PyTree
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  ema_params: PyTree | None
  g_history: PyTree | None
  d_history: PyTree | None
  generator: nn.Module = flax.struct.field(pytree_node=False)
  discriminator: nn.Module = flax.struct.field(pytree_node=False)
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

  def generate(self, z: jax.Array) -> jax.Array:
    """Samples G(z) [B, ...] in eval mode (running batch-norm statistics),
    with the EMA weights when the run keeps them."""
    params = self.g_params if self.ema_params is None else self.ema_params
    return self.generator.apply({"params": params, **_stats(self.g_batch_stats)}, z,
                                train=False)


def _stats(batch_stats: PyTree) -> dict:
  return {"batch_stats": batch_stats} if batch_stats else {}


def create_state(config: ml_collections.ConfigDict, *, sample_shape: tuple[int, ...],
                 seed: int | None = None, axis_name: str | None = None) -> GANState:
  """Initialises a fresh state.

  Args:
    config: the full experiment config.
    sample_shape: shape of one data sample, e.g. (28, 28, 1).
    seed: defaults to `config.seed`.
    axis_name: device axis for batch-norm statistics under data parallelism.
  """
  generator, discriminator = models_lib.build_models(config.model, sample_shape,
                                                     axis_name=axis_name)
  rng = jax.random.PRNGKey(config.seed if seed is None else seed)
  k_g, k_d, k_drop, rng = jax.random.split(rng, 4)
  z = jnp.zeros((2, config.model.latent_dim), jnp.float32)
  # Jitted: eager init runs op by op and takes seconds for the conv nets.
  g_vars = jax.jit(lambda key: generator.init(key, z, train=False))(k_g)
  x = jnp.zeros((2, *sample_shape), jnp.float32)
  d_vars = jax.jit(lambda keys: discriminator.init(keys, x, train=False))(
      {"params": k_d, "dropout": k_drop})
  g_tx = optimizers.make_optimizer(config.optimizer_g)
  d_tx = optimizers.make_optimizer(config.optimizer_d, weight_clip=config.weight_clip)
  tricks = config.tricks
  if tricks.ema_decay < 0 or tricks.ema_decay >= 1:
    raise ValueError(f"tricks.ema_decay must be in [0, 1), got {tricks.ema_decay}")
  history = tricks.historical_averaging > 0
  return GANState(
      step=jnp.zeros((), jnp.int32), rng=rng,
      # Copies: a buffer shared with g_params could not be donated twice.
      ema_params=jax.tree.map(jnp.copy, g_vars["params"]) if tricks.ema_decay > 0 else None,
      g_history=jax.tree.map(jnp.copy, g_vars["params"]) if history else None,
      d_history=jax.tree.map(jnp.copy, d_vars["params"]) if history else None,
      g_params=g_vars["params"], d_params=d_vars["params"],
      g_batch_stats=g_vars.get("batch_stats", {}),
      d_batch_stats=d_vars.get("batch_stats", {}),
      g_opt_state=g_tx.init(g_vars["params"]), d_opt_state=d_tx.init(d_vars["params"]),
      generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx)


def count_params(params: PyTree) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(params))
