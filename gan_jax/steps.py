"""The train step: k critic updates, then one generator update.

`make_train_step(config)` returns a pure `(state, batch) -> (state, metrics)`
with batch float32 [k, B, *sample_shape] (one real batch per critic update).
Everything that varies between GAN algorithms comes from the config by name:
the objective (`losses`), the gradient penalty (`penalties`), the number of
critic steps and both optimizers (built into the state).

Batch norm: G runs in train mode (batch statistics) in both updates; its
running statistics are updated once per generator step, in the G update. D's
batch-norm statistics, if D has any, are updated in each critic update.
Penalty weight convention: for r1 / r2 the step adds gamma/2 * penalty (the
paper's convention; GAN_stability's reg_param equals gamma/2 here), for every
other penalty weight * penalty.
RNG: `key = fold_in(state.rng, state.step)`, critic update i uses
`fold_in(key, i)`, the generator update `fold_in(key, k)`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import losses
from gan_jax import penalties
from gan_jax.state import GANState

Metrics = dict[str, jax.Array]
HALF_WEIGHT_PENALTIES = ("r1", "r2")


def penalty_coefficient(name: str, weight: float) -> float:
  """The factor the step multiplies the mean penalty by (gamma/2 for R1/R2)."""
  return weight / 2 if name in HALF_WEIGHT_PENALTIES else weight


def _apply(module, params, batch_stats, x, *, train: bool, rng=None):
  """Applies a module in train mode; returns (output, new batch stats)."""
  variables = {"params": params}
  if batch_stats:
    variables["batch_stats"] = batch_stats
  rngs = {"dropout": rng} if rng is not None else {}
  if batch_stats and train:
    out, updates = module.apply(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])
    return out, updates["batch_stats"]
  return module.apply(variables, x, train=train, rngs=rngs), batch_stats


def make_train_step(config: ml_collections.ConfigDict) -> Callable[[GANState, jax.Array],
                                                                     tuple[GANState, Metrics]]:
  """Builds the train step for `config` (objective, penalty, k, latent size).

  Raises:
    ValueError: unknown objective or penalty (listing valid names), k < 1, or
      a gradient penalty combined with a batch-norm discriminator (checked when
      the step first sees the state).
  """
  objective = losses.get_objective(config.objective)
  penalty_fn = penalties.get_penalty(config.penalty.name)
  if config.penalty.name == "none":
    penalty_fn = None  # Skip the zero computation entirely.
  coefficient = penalty_coefficient(config.penalty.name, config.penalty.weight)
  num_critic_steps = config.num_critic_steps
  if num_critic_steps < 1:
    raise ValueError(f"num_critic_steps must be >= 1, got {num_critic_steps}")
  latent_dim = config.model.latent_dim

  def generate(state: GANState, z):
    return _apply(state.generator, state.g_params, state.g_batch_stats, z, train=True)

  def d_update(state: GANState, real: jax.Array, key: jax.Array) -> tuple[GANState, Metrics]:
    k_z, k_real, k_fake, k_pen = jax.random.split(key, 4)
    z = jax.random.normal(k_z, (real.shape[0], latent_dim))
    fake, _ = generate(state, z)
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(d_params):
      real_logits, stats = _apply(state.discriminator, d_params, state.d_batch_stats, real,
                                  train=True, rng=k_real)
      fake_logits, stats = _apply(state.discriminator, d_params, stats, fake,
                                  train=True, rng=k_fake)
      obj = objective.d_loss(real_logits=real_logits, fake_logits=fake_logits).mean()
      pen = jnp.zeros(())
      if penalty_fn is not None:
        def d_fn(x):
          # Same dropout mask source as the real pass; no BN (checked below).
          return state.discriminator.apply({"params": d_params}, x, train=True,
                                           rngs={"dropout": k_pen})
        pen = penalty_fn(d_fn=d_fn, x_real=real, x_fake=fake, key=k_pen).mean()
      total = obj + coefficient * pen
      return total, (obj, pen, real_logits, fake_logits, stats)

    grads, (obj, pen, real_logits, fake_logits, stats) = jax.grad(
        loss_fn, has_aux=True)(state.d_params)
    updates, d_opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
    state = state.replace(d_params=optax.apply_updates(state.d_params, updates),
                          d_opt_state=d_opt_state, d_batch_stats=stats)
    accuracy = 0.5 * (jnp.mean(objective.is_real(real_logits))
                      + jnp.mean(~objective.is_real(fake_logits)))
    return state, {"d/loss": obj, "d/penalty": pen, "d/real_logits": real_logits.mean(),
                   "d/fake_logits": fake_logits.mean(), "d/accuracy": accuracy,
                   "d/grad_norm": optax.tree.norm(grads)}

  def g_update(state: GANState, batch_size: int, key: jax.Array) -> tuple[GANState, Metrics]:
    k_z, k_drop = jax.random.split(key)
    z = jax.random.normal(k_z, (batch_size, latent_dim))

    def loss_fn(g_params):
      fake, g_stats = _apply(state.generator, g_params, state.g_batch_stats, z, train=True)
      # D's batch stats (if any) are not updated by the generator step.
      fake_logits, _ = _apply(state.discriminator, state.d_params, state.d_batch_stats, fake,
                              train=True, rng=k_drop)
      return objective.g_loss(fake_logits=fake_logits).mean(), g_stats

    (loss, g_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    updates, g_opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
    state = state.replace(g_params=optax.apply_updates(state.g_params, updates),
                          g_opt_state=g_opt_state, g_batch_stats=g_stats)
    return state, {"g/loss": loss, "g/grad_norm": optax.tree.norm(grads)}

  def train_step(state: GANState, batch: jax.Array) -> tuple[GANState, Metrics]:
    """One generator step. batch: float32 [k, B, *sample_shape]."""
    if batch.shape[0] != num_critic_steps:
      raise ValueError(f"batch has {batch.shape[0]} critic batches, config says "
                       f"num_critic_steps={num_critic_steps}")
    penalties.check_penalty_compatible(
        {"params": state.d_params, "batch_stats": state.d_batch_stats}, config.penalty.name)
    key = jax.random.fold_in(state.rng, state.step)
    d_metrics = []
    # A Python loop (unrolled at trace time): k is small, and lax.scan over the
    # critic steps was far slower with XLA's CPU convolutions.
    for i in range(num_critic_steps):
      state, m = d_update(state, batch[i], jax.random.fold_in(key, i))
      d_metrics.append(m)
    metrics = jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *d_metrics)
    state, g_metrics = g_update(state, batch.shape[1], jax.random.fold_in(key, num_critic_steps))
    return state.replace(step=state.step + 1), {**metrics, **g_metrics}

  return train_step
