"""The CycleGAN train step: a pure `(state, batch_a, batch_b) -> (state, metrics)`.

One step, as in the reference code (generators first, then discriminators):
  1. G and F, jointly, by one Adam update of
       mean_B [ lsgan_g(D_Y(G(x))) + lsgan_g(D_X(F(y)))
                + lambda cycle_loss + identity_scale * lambda identity_loss ],
     lambda = `loss.cycle_weight`; the identity terms are skipped (not
     computed) when identity_scale = 0.
  2. D_X and D_Y, jointly, by one Adam update of
       mean_B lsgan_d(D_X(x), D_X(pool_x(F(y)))) + mean_B lsgan_d(D_Y(y), D_Y(pool_y(G(x)))),
     where the fakes are the ones of step 1 (made by G and F before their
     update, as the reference code's detached `fake_B`), and pool_x / pool_y
     are `gan_jax.tricks.historical_fake_batch`: with a full pool, the first
     round(pool.share * B) fakes of the batch are swapped for random stored
     ones (the reference pool returns a stored image with probability 1/2
     per image; here a fixed share). `pool.size = 0` uses the fresh fakes.
Randomness: key = fold_in(state.rng, state.step), split into the two pools'
keys. Metrics are flat scalars: g/loss (the total), g/adv_g (G's adversarial
term, judged by D_Y), g/adv_f (F's, by D_X), g/cycle, g/identity (unweighted
batch means), d_x/loss, d_y/loss, d_x/real, d_x/fake, d_y/real, d_y/fake
(mean patch logits on real and on the pooled fakes), g/grad_norm,
d/grad_norm, and pool/filled (stored fakes in D_Y's pool; D_X's fills alike).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import tricks
from gan_jax.cyclegan import losses
from gan_jax.cyclegan.state import CycleGANState, pool_options

Array = jax.Array
Metrics = dict[str, Array]
TrainStep = Callable[[CycleGANState, Array, Array], tuple[CycleGANState, Metrics]]


def _check_batches(batch_a: Array, batch_b: Array) -> None:
  if batch_a.ndim != 4 or batch_a.shape != batch_b.shape:
    raise ValueError(f"the step takes two image batches [B, H, W, C] of one shape, got "
                     f"{batch_a.shape} and {batch_b.shape}")


def pooled_fakes(fake: Array, *, pool: dict[str, Array], key: Array,
                 options: dict[str, Any]) -> tuple[Array, dict[str, Array]]:
  """(D's fake batch [B, ...], the pool after it) for the fresh fakes `fake`;
  the fresh fakes and the pool unchanged when `options` has no pool (size 0)."""
  if not options["fake_pool_size"]:
    return fake, pool
  return tricks.historical_fake_batch(fake, kept=pool, key=key, tricks=options)


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """What the step needs of the config, checked once (`step_spec`).

  Attributes:
    cycle_weight: lambda, on the cycle loss.
    identity_weight: identity_scale * lambda, on the identity loss (0: not computed).
    pool: the fake pool's options as `gan_jax.tricks` reads them.
  """
  cycle_weight: float
  identity_weight: float
  pool: tuple[tuple[str, Any], ...]

  @property
  def pool_options(self) -> dict[str, Any]:
    return dict(self.pool)


def step_spec(config: ml_collections.ConfigDict) -> StepSpec:
  """The `StepSpec` of `config`.

  Raises:
    ValueError: a negative loss weight.
  """
  cycle_weight = float(config.loss.cycle_weight)
  identity_weight = float(config.loss.identity_scale) * cycle_weight
  if cycle_weight < 0 or identity_weight < 0:
    raise ValueError(f"loss.cycle_weight and loss.identity_scale must be >= 0, got "
                     f"{config.loss.cycle_weight}, {config.loss.identity_scale}")
  return StepSpec(cycle_weight=cycle_weight, identity_weight=identity_weight,
                  pool=tuple(sorted(pool_options(config).items())))


def _generate(state: CycleGANState, params: Any, x: Array) -> Array:
  return state.generator.apply({"params": params}, x)


def _discriminate(state: CycleGANState, params: Any, x: Array) -> Array:
  """Patch logits [B, h, w]."""
  return state.discriminator.apply({"params": params}, x)


def generator_loss(spec: StepSpec, state: CycleGANState, gen: dict[str, Any], batch_a: Array,
                   batch_b: Array) -> tuple[Array, tuple[Metrics, Array, Array]]:
  """(the total loss of G and F, (its terms, F(y) [B, ...], G(x) [B, ...])) for
  the generator parameters `gen` = {"g", "f"}, judged by the state's D_X, D_Y."""
  fake_b = _generate(state, gen["g"], batch_a)   # G(x)
  fake_a = _generate(state, gen["f"], batch_b)   # F(y)
  adv_g = losses.lsgan_g_loss(fake_logits=_discriminate(state, state.d_y_params, fake_b))
  adv_f = losses.lsgan_g_loss(fake_logits=_discriminate(state, state.d_x_params, fake_a))
  cycle = losses.cycle_loss(real_a=batch_a, cycled_a=_generate(state, gen["f"], fake_b),
                            real_b=batch_b, cycled_b=_generate(state, gen["g"], fake_a))
  if spec.identity_weight:
    identity = losses.identity_loss(
        real_a=batch_a, same_a=_generate(state, gen["f"], batch_a),
        real_b=batch_b, same_b=_generate(state, gen["g"], batch_b))
  else:
    identity = jnp.zeros_like(cycle)
  total = jnp.mean(adv_g + adv_f + spec.cycle_weight * cycle + spec.identity_weight * identity)
  terms = {"g/adv_g": adv_g.mean(), "g/adv_f": adv_f.mean(), "g/cycle": cycle.mean(),
           "g/identity": identity.mean()}
  return total, (terms, fake_a, fake_b)


def discriminator_loss(state: CycleGANState, disc: dict[str, Any], batch_a: Array,
                       batch_b: Array, fake_a: Array, fake_b: Array) -> tuple[Array, Metrics]:
  """(the sum of D_X's and D_Y's losses, their terms) for the discriminator
  parameters `disc` = {"d_x", "d_y"}: D_X on real x against the fakes F(y)
  `fake_a`, D_Y on real y against G(x) `fake_b`."""
  outputs = {"d_x": (_discriminate(state, disc["d_x"], batch_a),
                     _discriminate(state, disc["d_x"], fake_a)),
             "d_y": (_discriminate(state, disc["d_y"], batch_b),
                     _discriminate(state, disc["d_y"], fake_b))}
  terms = {}
  for name, (real_logits, fake_logits) in outputs.items():
    terms[f"{name}/loss"] = losses.lsgan_d_loss(real_logits=real_logits,
                                                fake_logits=fake_logits).mean()
    terms[f"{name}/real"] = real_logits.mean()
    terms[f"{name}/fake"] = fake_logits.mean()
  return terms["d_x/loss"] + terms["d_y/loss"], terms


def train_step(spec: StepSpec, state: CycleGANState, batch_a: Array,
               batch_b: Array) -> tuple[CycleGANState, Metrics]:
  """One step (the module docstring): G and F, then D_X and D_Y on pooled fakes."""
  _check_batches(batch_a, batch_b)
  key = jax.random.fold_in(state.rng, state.step)
  key_pool_x, key_pool_y = jax.random.split(key)

  (g_loss, (g_terms, fake_a, fake_b)), gen_grads = jax.value_and_grad(
      functools.partial(generator_loss, spec, state), has_aux=True)(
          state.gen_params, batch_a, batch_b)
  updates, gen_opt_state = state.gen_tx.update(gen_grads, state.gen_opt_state, state.gen_params)
  gen = optax.apply_updates(state.gen_params, updates)

  fake_a, pool_x = pooled_fakes(jax.lax.stop_gradient(fake_a), pool=state.pools["d_x"],
                                key=key_pool_x, options=spec.pool_options)
  fake_b, pool_y = pooled_fakes(jax.lax.stop_gradient(fake_b), pool=state.pools["d_y"],
                                key=key_pool_y, options=spec.pool_options)
  (_, d_terms), disc_grads = jax.value_and_grad(
      functools.partial(discriminator_loss, state), has_aux=True)(
          state.disc_params, batch_a, batch_b, fake_a, fake_b)
  updates, disc_opt_state = state.disc_tx.update(disc_grads, state.disc_opt_state,
                                                 state.disc_params)
  disc = optax.apply_updates(state.disc_params, updates)

  new_state = state.replace(
      step=state.step + 1, g_params=gen["g"], f_params=gen["f"], d_x_params=disc["d_x"],
      d_y_params=disc["d_y"], gen_opt_state=gen_opt_state, disc_opt_state=disc_opt_state,
      pools={"d_x": pool_x, "d_y": pool_y})
  metrics = {"g/loss": g_loss, **g_terms, **d_terms,
             "g/grad_norm": optax.tree.norm(gen_grads),
             "d/grad_norm": optax.tree.norm(disc_grads),
             "pool/filled": pool_y["count"].astype(jnp.float32)}
  return new_state, metrics


def make_train_step(config: ml_collections.ConfigDict) -> TrainStep:
  """The pure train step of `config`: `train_step` with its `StepSpec`; jit it once.

  Raises:
    ValueError: a negative loss weight.
  """
  return functools.partial(train_step, step_spec(config))


def jit_train_step(config: ml_collections.ConfigDict) -> TrainStep:
  """`make_train_step(config)` jitted, the state donated."""
  return jax.jit(make_train_step(config), donate_argnums=0)


def translate(state: CycleGANState, images_a: Array, images_b: Array) -> dict[str, Array]:
  """The grid's images: {"a", "g_a" = G(a), "f_g_a" = F(G(a)), "b", "f_b" = F(b),
  "g_f_b" = G(F(b))}, each [n, H, W, C]."""
  gen = lambda p, x: state.generator.apply({"params": p}, x)
  g_a, f_b = gen(state.g_params, images_a), gen(state.f_params, images_b)
  return {"a": images_a, "g_a": g_a, "f_g_a": gen(state.f_params, g_a),
          "b": images_b, "f_b": f_b, "g_f_b": gen(state.g_params, f_b)}
