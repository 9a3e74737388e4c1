"""The train step: k critic updates, then one generator update.

`make_train_step(config)` returns a pure `(state, batch) -> (state, metrics)`
with batch float32 [k, B, *sample_shape] (one real batch per critic update).
Everything that varies between GAN algorithms comes from the config by name:
the objective (`losses`), the gradient penalty (`penalties`), the tricks
(`tricks`, `config.tricks`), the number of critic steps and both optimizers
(built into the state).

Batch norm: G runs in train mode (batch statistics) in both updates; its
running statistics are updated once per generator step, in the G update. D's
batch-norm statistics, if D has any, are updated in each critic update.
Penalty weight convention: for r1 / r2 the step adds gamma/2 * penalty (the
paper's convention; GAN_stability's reg_param equals gamma/2 here), for every
other penalty weight * penalty.
RNG: `key = fold_in(state.rng, state.step)`, critic update i uses
`fold_in(key, i)`, the generator update `fold_in(key, k)`.
`config.share_latents` (k = 1): both updates use the latents drawn from
`fold_in(key, k + 1)`, as PyTorch's DCGAN example does; the G update then
sees the very fakes D was just trained on. G's forward pass runs once: its
`jax.vjp` is taken before the D update and pulled back after it.
Data parallel (`axis_name` set, under shard_map / pmap; see `parallel.py`):
each device holds a slice of the global batch; gradients, metrics and (through
the models' batch norm `axis_name`) batch statistics are averaged over the
axis. Latents and instance noise are drawn for the global batch and sliced,
so a step on n devices equals the step on one device with the same global
batch; dropout masks and penalty interpolation weights use per-device keys.
Unrolled GAN: G's loss is taken at D's parameters after `unrolled_steps`
differentiable updates of D's own optimizer (on the critic batches, cycled),
gradients flowing through them; D's real update is unchanged.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import config_checks
from gan_jax import losses
from gan_jax import penalties
from gan_jax import tricks
from gan_jax.state import GANState

Metrics = dict[str, jax.Array]
HALF_WEIGHT_PENALTIES = ("r1", "r2")


def penalty_coefficient(name: str, weight: float) -> float:
  """The factor the step multiplies the mean penalty by (gamma/2 for R1/R2)."""
  return weight / 2 if name in HALF_WEIGHT_PENALTIES else weight


def _variables(params, batch_stats):
  return {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}


def _apply(module, params, batch_stats, x, *, rng=None, features=False):
  """Applies a module in train mode.

  Returns (output, new batch stats) or, with `features`, (output, new batch
  stats, the features the module sowed as intermediates/features).
  """
  mutable = (["batch_stats"] if batch_stats else []) + (["intermediates"] if features else [])
  rngs = {"dropout": rng} if rng is not None else {}
  out = module.apply(_variables(params, batch_stats), x, train=True, rngs=rngs,
                     mutable=mutable or False)
  if not mutable:
    return out, batch_stats
  out, updates = out
  stats = updates.get("batch_stats", batch_stats)
  if not features:
    return out, stats
  try:
    feats = updates["intermediates"]["features"][0]
  except KeyError:
    raise ValueError(f"{type(module).__name__} sows no 'features' intermediate, so feature "
                     "matching cannot use it") from None
  return out, stats, feats.reshape((feats.shape[0], -1))


def _check_config(config: ml_collections.ConfigDict) -> None:
  config_checks.validate_config(config)
  t = config.tricks
  if config.share_latents and (config.num_critic_steps != 1 or t.unrolled_steps or t.consensus):
    raise ValueError("share_latents needs num_critic_steps=1 and no unrolled_steps or consensus "
                     "(the generator update must see the critic update's own fakes)")
  if config.model.minibatch_kernels and config.penalty.name != "none":
    raise ValueError(f"penalty {config.penalty.name!r} needs per-example input gradients, but "
                     "minibatch discrimination mixes the examples of a batch; drop one")
  if t.label_smoothing and config.objective not in tricks.SMOOTHABLE_OBJECTIVES:
    raise ValueError(f"label smoothing needs a real/fake target; objective {config.objective!r} "
                     f"has none. Valid objectives: {', '.join(tricks.SMOOTHABLE_OBJECTIVES)}")


def make_train_step(config: ml_collections.ConfigDict, *, axis_name: str | None = None
                    ) -> Callable[[GANState, jax.Array], tuple[GANState, Metrics]]:
  """Builds the train step for `config` (objective, penalty, tricks, k, latent size).

  Args:
    config: the experiment config.
    axis_name: the device axis when the step runs data-parallel (the models
      must then be built with the same batch-norm axis name).

  Raises:
    ValueError: unknown objective or penalty (listing valid names), impossible
      values, or a gradient penalty combined with a discriminator that mixes
      the examples of a batch (checked when the step first sees the state).
  """
  _check_config(config)
  objective = losses.get_objective(config.objective)
  penalty_fn = penalties.get_penalty(config.penalty.name)
  if config.penalty.name == "none":
    penalty_fn = None  # Skip the zero computation entirely.
  coefficient = penalty_coefficient(config.penalty.name, config.penalty.weight)
  num_critic_steps = config.num_critic_steps
  latent_dim = config.model.latent_dim
  t = config.tricks

  def normal(key, shape):
    """N(0, 1) of a local shape: the global draw's slice under data parallelism."""
    if axis_name is None:
      return jax.random.normal(key, shape)
    n = jax.lax.psum(1, axis_name)
    full = jax.random.normal(key, (shape[0] * n, *shape[1:]))
    return jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(axis_name) * shape[0], shape[0])

  def device_key(key):
    return key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))

  def mean_over_devices(tree):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

  def objective_d_loss(real_logits, fake_logits):
    if t.label_smoothing:
      return tricks.smoothed_d_loss(config.objective, real_logits=real_logits,
                                    fake_logits=fake_logits, eps=t.label_smoothing)
    return objective.d_loss(real_logits=real_logits, fake_logits=fake_logits)

  def noise_std(state):
    return tricks.instance_noise_std(state.step, std=t.instance_noise_std,
                                     anneal_steps=t.instance_noise_anneal_steps)

  def noisy(x, key, std):
    return x + std * normal(key, x.shape) if t.instance_noise_std else x

  def latents(key, batch_size):
    return normal(key, (batch_size, latent_dim))

  def d_objective_keys(key):
    """(latents, dropout on real, dropout on fake, noise on real, noise on fake)."""
    return jax.random.split(key, 5)

  def d_objective(state, d_params, g_params, real, key, fake=None):
    """D's objective (no penalty) with fakes G(z) from g_params and fresh
    latents, or the given `fake`; differentiable in both parameter sets.
    Returns (loss, (real_logits, fake_logits, d_stats, fake))."""
    k_z, k_real, k_fake, k_nr, k_nf = d_objective_keys(key)
    if fake is None:
      fake, _ = _apply(state.generator, g_params, state.g_batch_stats,
                       latents(k_z, real.shape[0]))
    std = noise_std(state)
    real_logits, stats = _apply(state.discriminator, d_params, state.d_batch_stats,
                                noisy(real, k_nr, std), rng=device_key(k_real))
    fake_logits, stats = _apply(state.discriminator, d_params, stats,
                                noisy(fake, k_nf, std), rng=device_key(k_fake))
    loss = objective_d_loss(real_logits, fake_logits).mean()
    return loss, (real_logits, fake_logits, stats, fake)

  def g_objective_keys(key):
    """(latents, dropout on fake, instance noise, dropout on real)."""
    return jax.random.split(key, 4)

  def g_objective(state, g_params, d_params, real, key):
    """G's objective at (g_params, d_params) with fresh latents.
    Returns (loss, new G batch stats)."""
    k_z, *keys = g_objective_keys(key)
    fake, g_stats = _apply(state.generator, g_params, state.g_batch_stats,
                           latents(k_z, real.shape[0]))
    return g_loss_of_fakes(state, fake, d_params, real, keys), g_stats

  def g_loss_of_fakes(state, fake, d_params, real, keys):
    """G's objective as a function of its fakes [B, ...] (D at d_params);
    keys: (dropout, instance noise, dropout on real) as g_objective splits them."""
    k_drop, k_noise, k_real = keys
    fake = noisy(fake, k_noise, noise_std(state))
    k_drop, k_real = device_key(k_drop), device_key(k_real)
    # D's batch stats (if any) are not updated by the generator step.
    if t.feature_matching:
      _, _, fake_feats = _apply(state.discriminator, d_params, state.d_batch_stats, fake,
                                rng=k_drop, features=True)
      _, _, real_feats = _apply(state.discriminator, d_params, state.d_batch_stats, real,
                                rng=k_real, features=True)
      return tricks.feature_matching_loss(real_features=real_feats, fake_features=fake_feats)
    fake_logits, _ = _apply(state.discriminator, d_params, state.d_batch_stats, fake, rng=k_drop)
    return objective.g_loss(fake_logits=fake_logits).mean()

  def consensus(state, g_params, d_params, real, key):
    """gamma * 1/2 ||v||^2 of the joint field at (g_params, d_params)."""
    k_d, k_g = jax.random.split(key)
    d_field = jax.grad(lambda p: d_objective(state, p, g_params, real, k_d)[0])(d_params)
    g_field = jax.grad(lambda p: g_objective(state, p, d_params, real, k_g)[0])(g_params)
    return t.consensus * tricks.consensus_regularizer(g_field=g_field, d_field=d_field)

  def d_update(state: GANState, real: jax.Array, key: jax.Array,
               fake: jax.Array | None = None) -> tuple[GANState, Metrics]:
    k_obj, k_pen, k_con = jax.random.split(key, 3)

    def loss_fn(d_params):
      g_params = jax.lax.stop_gradient(state.g_params)
      obj, (real_logits, fake_logits, stats, fakes) = d_objective(
          state, d_params, g_params, real, k_obj, fake)
      total = obj
      pen = jnp.zeros(())
      if penalty_fn is not None:
        # Penalised D: no BN (checked) and no instance noise. Its dropout mask
        # is the objective's real pass's, so a penalty at the real batch (R1)
        # differentiates that very D(x), as PyTorch's autograd of one D(x)
        # does, and XLA computes D(real) once.
        k_drop_real = device_key(d_objective_keys(k_obj)[1])

        def d_fn(x):
          return state.discriminator.apply({"params": d_params}, x, train=True,
                                           rngs={"dropout": k_drop_real})
        pen = penalty_fn(d_fn=d_fn, x_real=real, x_fake=fakes, key=device_key(k_pen)).mean()
        total += coefficient * pen
      if t.historical_averaging:
        total += t.historical_averaging * tricks.sq_distance(d_params, state.d_history)
      if t.consensus:
        total += consensus(state, g_params, d_params, real, k_con)
      return total, (obj, pen, real_logits, fake_logits, stats)

    grads, (obj, pen, real_logits, fake_logits, stats) = jax.grad(
        loss_fn, has_aux=True)(state.d_params)
    grads = mean_over_devices(grads)
    updates, d_opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
    state = state.replace(d_params=optax.apply_updates(state.d_params, updates),
                          d_opt_state=d_opt_state, d_batch_stats=stats)
    accuracy = 0.5 * (jnp.mean(objective.is_real(real_logits))
                      + jnp.mean(~objective.is_real(fake_logits)))
    return state, mean_over_devices({
        "d/loss": obj, "d/penalty": pen, "d/real_logits": real_logits.mean(),
        "d/fake_logits": fake_logits.mean(), "d/accuracy": accuracy,
        "d/grad_norm": optax.tree.norm(grads)})

  def unrolled_d_params(state, g_params, batch, key):
    """D's parameters after `unrolled_steps` differentiable optimizer updates."""
    d_params, opt_state = state.d_params, state.d_opt_state
    for j in range(t.unrolled_steps):
      grads = jax.grad(lambda p: d_objective(state, p, g_params, batch[j % len(batch)],
                                             jax.random.fold_in(key, j))[0])(d_params)
      updates, opt_state = state.d_tx.update(grads, opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
    return d_params

  def g_update(state: GANState, batch: jax.Array, key: jax.Array,
               shared: tuple | None = None) -> tuple[GANState, Metrics]:
    """G's update; `shared` = (fakes, G's VJP at them, G batch stats) from the
    forward pass the D update used (share_latents), else G runs afresh."""
    k_obj, k_unroll, k_con = jax.random.split(key, 3)
    real = batch[-1]

    def history_term(g_params):
      return t.historical_averaging * tricks.sq_distance(g_params, state.g_history)

    def loss_fn(g_params):
      d_params = state.d_params
      if t.unrolled_steps:
        d_params = unrolled_d_params(state, g_params, batch, k_unroll)
      loss, g_stats = g_objective(state, g_params, d_params, real, k_obj)
      total = loss
      if t.historical_averaging:
        total += history_term(g_params)
      if t.consensus:
        total += consensus(state, g_params, jax.lax.stop_gradient(state.d_params), real, k_con)
      return total, (loss, g_stats)

    if shared is None:
      grads, (loss, g_stats) = jax.grad(loss_fn, has_aux=True)(state.g_params)
    else:
      fake, g_vjp, g_stats = shared
      loss, fake_grad = jax.value_and_grad(
          lambda f: g_loss_of_fakes(state, f, state.d_params, real,
                                    g_objective_keys(k_obj)[1:]))(fake)
      (grads,) = g_vjp(fake_grad)
      if t.historical_averaging:
        grads = jax.tree.map(jnp.add, grads, jax.grad(history_term)(state.g_params))
    grads = mean_over_devices(grads)
    updates, g_opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    state = state.replace(g_params=g_params, g_opt_state=g_opt_state, g_batch_stats=g_stats)
    if state.ema_params is not None:
      state = state.replace(ema_params=tricks.ema_update(
          state.ema_params, g_params, decay=t.ema_decay, step=state.step, start=t.ema_start))
    return state, mean_over_devices({"g/loss": loss, "g/grad_norm": optax.tree.norm(grads)})

  def train_step(state: GANState, batch: jax.Array) -> tuple[GANState, Metrics]:
    """One generator step. batch: float32 [k, B, *sample_shape]."""
    if batch.shape[0] != num_critic_steps:
      raise ValueError(f"batch has {batch.shape[0]} critic batches, config says "
                       f"num_critic_steps={num_critic_steps}")
    penalties.check_penalty_compatible(
        {"params": state.d_params, "batch_stats": state.d_batch_stats}, config.penalty.name)
    key = jax.random.fold_in(state.rng, state.step)
    fake = shared = None
    if config.share_latents:
      # One G forward pass for both updates; D trains on its (constant) output.
      z = normal(jax.random.fold_in(key, num_critic_steps + 1), (batch.shape[1], latent_dim))
      fake, g_vjp, g_stats = jax.vjp(
          lambda p: _apply(state.generator, p, state.g_batch_stats, z), state.g_params,
          has_aux=True)
      shared = (fake, g_vjp, g_stats)
      fake = jax.lax.stop_gradient(fake)
    d_metrics = []
    # A Python loop (unrolled at trace time): k is small, and lax.scan over the
    # critic steps was far slower with XLA's CPU convolutions.
    for i in range(num_critic_steps):
      state, m = d_update(state, batch[i], jax.random.fold_in(key, i), fake)
      d_metrics.append(m)
    metrics = jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *d_metrics)
    state, g_metrics = g_update(state, batch, jax.random.fold_in(key, num_critic_steps), shared)
    if state.g_history is not None:
      # Means over the parameters after updates 0..step (initial ones included).
      count = state.step + 1
      state = state.replace(
          g_history=tricks.running_mean(state.g_history, state.g_params, count=count),
          d_history=tricks.running_mean(state.d_history, state.d_params, count=count))
    if t.instance_noise_std:
      metrics["d/instance_noise_std"] = noise_std(state)
    return state.replace(step=state.step + 1), {**metrics, **g_metrics}

  return train_step
