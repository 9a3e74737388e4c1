"""The train step: k critic updates, then one generator update.

`make_train_step(config)` returns a pure `(state, batch) -> (state, metrics)`
with batch float32 [k, B, *sample_shape] (one real batch per critic update;
for a class-conditional GAN the pair (that, int labels [k, B]): each update's
G and D then take the labels of its real batch, `gan_jax.conditioning`):
`train_step` bound to a `StepSpec`, the frozen, validated part of the config
the step reads. `d_update`, `g_update` and `train_step` are top-level pure
functions of (spec, state, ...) and can be called on their own.
Everything that varies between GAN algorithms comes from the config by name:
the objective (`losses`), the gradient penalty (`penalties`), the tricks
(`tricks`, `config.tricks`), the number of critic steps and both optimizers
(built into the state).

Batch norm: G runs in train mode (batch statistics) in both updates; its
running statistics are updated once per generator step, in the G update. D's
batch-norm statistics, if D has any, are updated in each critic update.
Penalty weight: the step adds `penalties.penalty_coefficient(name, weight)`
times the mean penalty; each penalty declares its factor (gamma/2 for r1, r2,
r1_r2, roth; GAN_stability's reg_param equals gamma/2 here).
RNG: named streams (`stream_key(state, "critic/0/objective/latents")`; the
layouts are the `*_STREAMS` tuples below): `key = fold_in(state.rng,
state.step)`, critic update i uses `fold_in(key, i)`, the generator update
`fold_in(key, k)`; each update splits its key into the named streams it uses.
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
Tricks (`gan_jax.tricks`) join by kind, never by name: loss terms added to a
player's loss, input transforms on every input D sees, a g_loss in place of
the objective's G loss (feature matching), d_lookaheads giving the D
parameters G's loss is taken at (unrolling), state updates after the G
update, and the metrics any of them logs.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import conditioning
from gan_jax import config_checks
from gan_jax import losses
from gan_jax import models
from gan_jax import penalties
from gan_jax import reductions
from gan_jax import tricks
from gan_jax.state import GANState

Metrics = dict[str, jax.Array]
penalty_coefficient = penalties.penalty_coefficient  # each penalty declares its convention


def _variables(params, batch_stats):
  return {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}


def _apply(module, params, batch_stats, x, *, labels=None, rng=None, **kwargs):
  """Applies a module in train mode (to (x, labels) when labels are given: a
  class-conditional G or D; `kwargs` go to the module); returns (output, new
  batch stats)."""
  mutable = ["batch_stats"] if batch_stats else False
  rngs = {"dropout": rng} if rng is not None else {}
  out = module.apply(_variables(params, batch_stats), *conditioning.module_inputs(x, labels),
                     train=True, rngs=rngs, mutable=mutable, **kwargs)
  if not mutable:
    return out, batch_stats
  out, updates = out
  return out, updates.get("batch_stats", batch_stats)


class DOutput(NamedTuple):
  """What one call of D gives (`discriminate`)."""
  logits: jax.Array                # [B]
  class_logits: jax.Array | None   # [B, C] for an AC-GAN head, else None
  batch_stats: Any                 # D's batch statistics after the call
  features: jax.Array | None       # phi(x) [B, F] (penultimate layer) when asked for


def discriminate(state: GANState, d_params, batch_stats, x, labels, *, rng,
                 features: bool = False) -> DOutput:
  """D in train mode on x [B, ...] (with `labels` [B] when class-conditional):
  its logits, class logits, new batch stats and, with `features`, the
  penultimate features every discriminator returns with `with_features=True`."""
  out, stats = _apply(state.discriminator, d_params, batch_stats, x, labels=labels, rng=rng,
                      **({"with_features": True} if features else {}))
  out = out if isinstance(out, tuple) else (out,)
  if labels is None:  # logits[, phi]
    logits, class_logits, phi = out[0], None, (out[1] if features else None)
  else:  # logits, class logits[, phi]
    logits, class_logits, phi = out[0], out[1], (out[2] if features else None)
  if phi is not None:
    phi = phi.reshape((phi.shape[0], -1))
  return DOutput(logits, class_logits, stats, phi)


def _check_config(config: ml_collections.ConfigDict) -> None:
  config_checks.validate_config(config)
  models.check_model_config(config.model)  # after it, mlp's fields are set only for mlp
  t = config.tricks
  if config.share_latents and (config.num_critic_steps != 1 or t.unrolled_steps or t.consensus):
    raise ValueError("share_latents needs num_critic_steps=1 and no unrolled_steps or consensus "
                     "(the generator update must see the critic update's own fakes)")
  if config.model.mlp.minibatch_kernels and config.penalty.name != "none":
    raise ValueError(f"penalty {config.penalty.name!r} needs per-example input gradients, but "
                     "minibatch discrimination mixes the examples of a batch; drop one")
  if conditioning.num_classes(config.conditioning):
    conditioning.get_conditioning(config.conditioning.method)  # an unknown name fails here
    unsupported = [name for name, on in (
        ("tricks.unrolled_steps", t.unrolled_steps), ("tricks.fake_pool_size", t.fake_pool_size),
        ("model.mlp.vbn_reference_size", config.model.mlp.vbn_reference_size)) if on]
    if unsupported:
      raise ValueError(f"conditioning {config.conditioning.method!r} does not yet work with "
                       f"{unsupported[0]} (its D batches / pool / reference batch carry no "
                       "labels); set it to 0 or conditioning.method='none'")
  if t.label_smoothing and not losses.get_objective(config.objective).smoothable:
    raise ValueError(f"label smoothing needs a real/fake target; objective {config.objective!r} "
                     f"has none. Valid objectives: {', '.join(losses.smoothable_objectives())}")


# --- named RNG streams -----------------------------------------------------------------------

# Each update splits its key into these streams, in this order.
D_UPDATE_STREAMS = ("objective", "penalty", "terms")
G_UPDATE_STREAMS = ("objective", "lookahead", "terms")
D_OBJECTIVE_STREAMS = ("latents", "dropout_real", "dropout_fake", "noise_real", "noise_fake")
G_OBJECTIVE_STREAMS = ("latents", "dropout_fake", "noise", "dropout_real")
# Streams added after those layouts were fixed: fold_in(update key, n), which
# leaves the split streams, and so every earlier run, as they were.
D_UPDATE_FOLDED = {"fakes": 1}  # the d_fakes tricks (the fake pool)


def named_keys(key: jax.Array, names: tuple[str, ...]) -> dict[str, jax.Array]:
  """{name: key} from one split of `key` into len(names) keys."""
  return dict(zip(names, jax.random.split(key, len(names))))


def update_key(state: GANState, update: str, *, num_critic_steps: int) -> jax.Array:
  """The key of one update of the step at `state.step`: "critic/<i>",
  "generator" or "shared_latents" (the latents of `share_latents`)."""
  key = jax.random.fold_in(state.rng, state.step)
  if update == "generator":
    return jax.random.fold_in(key, num_critic_steps)
  if update == "shared_latents":
    return jax.random.fold_in(key, num_critic_steps + 1)
  kind, _, index = update.partition("/")
  if kind == "critic" and index.isdigit() and int(index) < num_critic_steps:
    return jax.random.fold_in(key, int(index))
  raise ValueError(f"Unknown update {update!r}; valid: critic/0 ... critic/"
                   f"{num_critic_steps - 1}, generator, shared_latents")


def stream_key(state: GANState, path: str, *, num_critic_steps: int = 1) -> jax.Array:
  """The key the step at `state.step` uses for one named stream (before the
  per-device fold-in under data parallelism), e.g.
  "critic/0/objective/latents", "critic/0/penalty", "generator/objective/noise",
  "shared_latents". Objective streams: D_OBJECTIVE_STREAMS in a critic update,
  G_OBJECTIVE_STREAMS in the generator update."""
  parts = path.split("/")
  n = 2 if parts[0] == "critic" else 1
  key = update_key(state, "/".join(parts[:n]), num_critic_steps=num_critic_steps)
  if parts[0] == "critic" and len(parts) == 3 and parts[2] in D_UPDATE_FOLDED:
    return jax.random.fold_in(key, D_UPDATE_FOLDED[parts[2]])
  layouts = [D_UPDATE_STREAMS if parts[0] == "critic" else G_UPDATE_STREAMS]
  if len(parts) > n + 1 and parts[n] == "objective":
    layouts.append(D_OBJECTIVE_STREAMS if parts[0] == "critic" else G_OBJECTIVE_STREAMS)
  for name, layout in zip(parts[n:], layouts):
    if name not in layout:
      raise ValueError(f"Unknown stream {name!r} in {path!r}; valid: {', '.join(layout)}")
    key = named_keys(key, layout)[name]
  if len(parts) - n > len(layouts) or (parts[0] == "shared_latents" and len(parts) > 1):
    raise ValueError(f"Unknown stream path {path!r}")
  return key


# --- the spec --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StepSpec:
  """What the step reads from the config, resolved and validated once.

  Attributes mirror the config fields of the same names; `objective` and
  `penalty_fn` are the registry entries (`penalty_fn` None for "none"),
  `penalty_coefficient` the factor of the mean penalty, `tricks` the
  `config.tricks` dict, `loss_terms` / `input_transforms` / `state_updates` /
  `d_lookaheads` the registered tricks of each kind it switches on, `g_loss`
  the one that replaces G's loss (or None), `logged` those that log metrics
  (`gan_jax.tricks`), `conditioning` the class-conditioning method
  (`gan_jax.conditioning`; `conditional` False for "none") and
  `class_loss_weight` its class losses' weight, `axis_name` the device axis
  under data parallelism (None on one device).
  """
  objective: losses.Objective
  objective_name: str
  penalty_name: str
  penalty_fn: Callable[..., jax.Array] | None
  penalty_coefficient: float
  num_critic_steps: int
  latent_dim: int
  share_latents: bool
  label_smoothing: float
  tricks: dict
  loss_terms: tuple[tricks.Trick, ...]
  input_transforms: tuple[tricks.Trick, ...]
  state_updates: tuple[tricks.Trick, ...]
  g_loss: tricks.Trick | None
  d_lookaheads: tuple[tricks.Trick, ...]
  d_fakes: tuple[tricks.Trick, ...]
  logged: tuple[tricks.Trick, ...]
  conditioning: conditioning.Conditioning = conditioning.get_conditioning("none")
  conditional: bool = False
  class_loss_weight: float = 0.0
  axis_name: str | None = None

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, *,
                  axis_name: str | None = None) -> "StepSpec":
    """Raises ValueError for unknown names or impossible combinations."""
    _check_config(config)
    t = config.tricks
    tricks_dict = t.to_dict()
    name = config.penalty.name
    penalty_fn = penalties.get_penalty(name)
    if name != "none" and not config.penalty.weight:
      raise ValueError(f"penalty {name!r} has weight 0, so it would cost its nested gradients "
                       "and change nothing: set config.penalty.weight > 0, or "
                       "penalty.name='none'")
    on = {kind: tricks.enabled(tricks_dict, kind) for kind in tricks.KINDS}
    if len(on["g_loss"]) > 1:
      raise ValueError("tricks " + " and ".join(t.name for t in on["g_loss"]) + " each replace "
                       "G's loss; switch on one")
    return cls(
        objective=losses.get_objective(config.objective), objective_name=config.objective,
        penalty_name=name, penalty_fn=None if name == "none" else penalty_fn,
        penalty_coefficient=penalty_coefficient(name, config.penalty.weight),
        num_critic_steps=config.num_critic_steps, latent_dim=config.model.latent_dim,
        share_latents=config.share_latents, label_smoothing=t.label_smoothing,
        tricks=tricks_dict, loss_terms=on["loss_term"], input_transforms=on["input_transform"],
        state_updates=on["state_update"], g_loss=(on["g_loss"] or (None,))[0],
        d_lookaheads=on["d_lookahead"], d_fakes=on["d_fakes"],
        logged=tuple(x for kind in tricks.KINDS for x in on[kind] if x.metrics),
        conditioning=conditioning.get_conditioning(config.conditioning.method),
        conditional=conditioning.num_classes(config.conditioning) > 0,
        class_loss_weight=config.conditioning.class_loss_weight, axis_name=axis_name)


# --- device helpers --------------------------------------------------------------------------

def _normal(spec: StepSpec, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """N(0, 1) of a local shape: the global draw's slice under data parallelism."""
  if spec.axis_name is None:
    return jax.random.normal(key, shape)
  n = jax.lax.psum(1, spec.axis_name)
  full = jax.random.normal(key, (shape[0] * n, *shape[1:]))
  return jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(spec.axis_name) * shape[0],
                                      shape[0])


def _device_key(spec: StepSpec, key: jax.Array) -> jax.Array:
  if spec.axis_name is None:
    return key
  return jax.random.fold_in(key, jax.lax.axis_index(spec.axis_name))


def _mean_over_devices(spec: StepSpec, tree):
  return tree if spec.axis_name is None else jax.lax.pmean(tree, spec.axis_name)


def _combine_metrics(spec: StepSpec, metrics: Metrics) -> Metrics:
  """A metrics dict over the devices: the mean, the max for peaks (`reductions`)."""
  if spec.axis_name is None:
    return metrics
  return {k: (jax.lax.pmax(v, spec.axis_name) if reductions.is_peak(k)
              else jax.lax.pmean(v, spec.axis_name)) for k, v in metrics.items()}


def _latents(spec: StepSpec, key: jax.Array, batch_size: int) -> jax.Array:
  return _normal(spec, key, (batch_size, spec.latent_dim))


def _global(spec: StepSpec, x: jax.Array) -> jax.Array:
  """The global batch [n * B, ...] of a local one [B, ...] (in device order)."""
  return x if spec.axis_name is None else jax.lax.all_gather(x, spec.axis_name, tiled=True)


def _local(spec: StepSpec, x: jax.Array, batch_size: int) -> jax.Array:
  """This device's slice [B, ...] of a global batch."""
  if spec.axis_name is None:
    return x
  return jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index(spec.axis_name) * batch_size,
                                      batch_size)


def _trick_key(key: jax.Array, i: int) -> jax.Array:
  """The key of the i-th switched-on trick of a kind, from the kind's stream
  `key`: `key` itself for the first, fold_in(key, i) for the others."""
  return key if i == 0 else jax.random.fold_in(key, i)


def _d_input(spec: StepSpec, state: GANState, x: jax.Array, key: jax.Array) -> jax.Array:
  """An input D sees, through the switched-on input transforms (DiffAugment,
  instance noise);
  the first takes `key`, the i-th fold_in(key, i)."""
  for i, trick in enumerate(spec.input_transforms):
    x = trick.fn(x, key=_trick_key(key, i), step=state.step,
                 tricks=spec.tricks, normal=functools.partial(_normal, spec))
  return x


# --- objectives of the two players -----------------------------------------------------------

def _batch_mean(spec: StepSpec, x: jax.Array) -> jax.Array:
  """The mean over the global batch (every device's examples) of x [B]."""
  return _mean_over_devices(spec, jnp.mean(x))


def _objective_d_loss(spec: StepSpec, real_logits: jax.Array,
                      fake_logits: jax.Array) -> jax.Array:
  return spec.objective.d_losses(real_logits=real_logits, fake_logits=fake_logits,
                                 batch_mean=functools.partial(_batch_mean, spec),
                                 label_smoothing=spec.label_smoothing)


def _fresh_fakes(spec: StepSpec, state: GANState, g_params, key: jax.Array,
                 batch_size: int, labels: jax.Array | None = None) -> jax.Array:
  """G(z) [B, ...] (G(z, labels) when conditional) for latents from `key`
  (G's batch stats not kept)."""
  fake, _ = _apply(state.generator, g_params, state.g_batch_stats,
                   _latents(spec, key, batch_size), labels=labels)
  return fake


def d_objective(spec: StepSpec, state: GANState, d_params, g_params, real: jax.Array,
                key: jax.Array, fake: jax.Array | None = None,
                labels: jax.Array | None = None):
  """D's objective (no penalty) with fakes G(z) from g_params and fresh
  latents, or the given `fake`; differentiable in both parameter sets.
  A class-conditional GAN gives `labels` [B] of `real`, which the fakes share;
  AC-GAN's class loss (times its weight) is then part of the objective.
  key: split into D_OBJECTIVE_STREAMS.
  Returns (loss, (real_logits [B], fake_logits [B], D batch stats, fake,
  class metrics: {} or "d/class_loss", "d/class_accuracy" of the real batch))."""
  k = named_keys(key, D_OBJECTIVE_STREAMS)
  if fake is None:
    fake = _fresh_fakes(spec, state, g_params, k["latents"], real.shape[0], labels)
  real_logits, real_class, stats, _ = discriminate(
      state, d_params, state.d_batch_stats, _d_input(spec, state, real, k["noise_real"]), labels,
      rng=_device_key(spec, k["dropout_real"]))
  fake_logits, fake_class, stats, _ = discriminate(
      state, d_params, stats, _d_input(spec, state, fake, k["noise_fake"]), labels,
      rng=_device_key(spec, k["dropout_fake"]))
  loss = _objective_d_loss(spec, real_logits, fake_logits).mean()
  class_metrics = {}
  if spec.conditioning.classifier:
    class_loss = spec.conditioning.d_class_loss(
        real_class_logits=real_class, fake_class_logits=fake_class, labels=labels).mean()
    loss += spec.class_loss_weight * class_loss
    class_metrics = {"d/class_loss": class_loss, "d/class_accuracy": jnp.mean(
        jnp.argmax(real_class, axis=-1) == labels)}
  return loss, (real_logits, fake_logits, stats, fake, class_metrics)


def g_loss_of_fakes(spec: StepSpec, state: GANState, fake: jax.Array, d_params,
                    real: jax.Array, keys: dict[str, jax.Array],
                    labels: jax.Array | None = None) -> jax.Array:
  """G's objective as a function of its fakes [B, ...] (D at d_params; with
  the fakes' `labels` [B] when conditional, plus AC-GAN's class loss);
  keys: G_OBJECTIVE_STREAMS (the latents are not used)."""
  fake = _d_input(spec, state, fake, keys["noise"])
  # The real batch G's loss reads goes through the input transforms too (a stream
  # of its own, folded from G's noise key), as every input D sees.
  real_input = lambda: _d_input(spec, state, real, jax.random.fold_in(keys["noise"], 1))
  k_drop, k_real = _device_key(spec, keys["dropout_fake"]), _device_key(spec, keys["dropout_real"])
  # D's batch stats (if any) are not updated by the generator step.
  if spec.g_loss is not None:  # a trick's G loss of D's features (feature matching)
    _, fake_class, _, fake_feats = discriminate(state, d_params, state.d_batch_stats, fake,
                                                labels, rng=k_drop, features=True)
    real_feats = discriminate(state, d_params, state.d_batch_stats, real_input(), labels,
                              rng=k_real, features=True).features
    loss = spec.g_loss.fn(real_features=real_feats, fake_features=fake_feats)
  else:
    fake_logits, fake_class, _, _ = discriminate(state, d_params, state.d_batch_stats, fake,
                                                 labels, rng=k_drop)
    real_logits = None
    if spec.objective.g_uses_real:
      real_logits = discriminate(state, d_params, state.d_batch_stats, real_input(), labels,
                                 rng=k_real).logits
    loss = spec.objective.g_losses(fake_logits=fake_logits, real_logits=real_logits,
                                   batch_mean=functools.partial(_batch_mean, spec)).mean()
  if spec.conditioning.classifier:
    loss += spec.class_loss_weight * spec.conditioning.g_class_loss(
        fake_class_logits=fake_class, labels=labels).mean()
  return loss


def g_objective(spec: StepSpec, state: GANState, g_params, d_params, real: jax.Array,
                key: jax.Array, labels: jax.Array | None = None):
  """G's objective at (g_params, d_params) with fresh latents (and the real
  batch's `labels` when conditional); key: split into G_OBJECTIVE_STREAMS.
  Returns (loss, new G batch stats)."""
  k = named_keys(key, G_OBJECTIVE_STREAMS)
  fake, g_stats = _apply(state.generator, g_params, state.g_batch_stats,
                         _latents(spec, k["latents"], real.shape[0]), labels=labels)
  return g_loss_of_fakes(spec, state, fake, d_params, real, k, labels), g_stats


def _loss_terms(spec: StepSpec, state: GANState, *, player: str, d_params, g_params,
                real: jax.Array, key: jax.Array, labels: jax.Array | None) -> jax.Array:
  """The sum of the switched-on loss terms of `player` ("d" or "g"), a scalar."""
  ctx = tricks.TermContext(
      player=player, d_params=d_params, g_params=g_params, state=state, real=real, key=key,
      tricks=spec.tricks,
      d_objective=lambda d, g, k: d_objective(spec, state, d, g, real, k, labels=labels)[0],
      g_objective=lambda g, d, k: g_objective(spec, state, g, d, real, k, labels)[0],
      discriminate=lambda d, x, k: discriminate(state, d, state.d_batch_stats, x, labels,
                                                rng=_device_key(spec, k), features=True))
  total = jnp.zeros(())
  mine = [trick for trick in spec.loss_terms if player in trick.players]
  for i, trick in enumerate(mine):  # the first takes `key`, the i-th fold_in(key, i)
    total += trick.fn(dataclasses.replace(ctx, key=_trick_key(key, i)))
  return total


def _has_terms(spec: StepSpec, player: str) -> bool:
  return any(player in trick.players for trick in spec.loss_terms)


# --- the updates -----------------------------------------------------------------------------

def _d_fake_batch(spec: StepSpec, state: GANState, fake: jax.Array,
                  key: jax.Array) -> tuple[jax.Array, dict]:
  """The fakes D trains on: the fresh ones [B, ...] through the switched-on
  d_fakes tricks (the fake pool), on the global batch (so every device keeps
  the same trick state); the first takes `key`, the i-th fold_in(key, i).
  Returns (this device's fakes [B, ...], the new trick_state)."""
  kept = dict(state.trick_state)
  x = _global(spec, fake)
  for i, trick in enumerate(spec.d_fakes):
    x, kept[trick.name] = trick.fn(x, kept=kept[trick.name], tricks=spec.tricks,
                                   key=_trick_key(key, i))
  return _local(spec, x, fake.shape[0]), kept


def _critic_fakes(spec: StepSpec, state: GANState, real: jax.Array, k: dict[str, jax.Array],
                  fake: jax.Array | None) -> jax.Array:
  """The fresh fakes of a critic update: `fake` if given, else those
  d_objective would draw (its latents stream); constants for D. (Not for a
  conditional GAN: the pool keeps no labels.)"""
  if fake is None:
    fake = _fresh_fakes(spec, state, state.g_params,
                        named_keys(k["objective"], D_OBJECTIVE_STREAMS)["latents"],
                        real.shape[0])
  return jax.lax.stop_gradient(fake)


def d_update(spec: StepSpec, state: GANState, real: jax.Array, key: jax.Array,
             fake: jax.Array | None = None,
             labels: jax.Array | None = None) -> tuple[GANState, Metrics]:
  """One critic update on real [B, ...] (and `fake`, else fresh fakes; with
  the real batch's `labels` [B] when conditional, which the fakes share).
  key: `update_key(state, "critic/<i>")`, split into D_UPDATE_STREAMS (and
  fold_in(key, 1) for the d_fakes tricks)."""
  k = named_keys(key, D_UPDATE_STREAMS)
  trick_state = state.trick_state
  if spec.d_fakes:  # D trains on the trick's batch (the fake pool)
    fake, trick_state = _d_fake_batch(spec, state, _critic_fakes(spec, state, real, k, fake),
                                      jax.random.fold_in(key, D_UPDATE_FOLDED["fakes"]))

  def loss_fn(d_params):
    g_params = jax.lax.stop_gradient(state.g_params)
    obj, (real_logits, fake_logits, stats, fakes, class_metrics) = d_objective(
        spec, state, d_params, g_params, real, k["objective"], fake, labels)
    total = obj
    pen = jnp.zeros(())
    if spec.penalty_fn is not None:
      # Penalised D: no BN (checked; spectral norm's u and sigma are in its
      # batch_stats, read, not advanced) and no instance noise. Its dropout mask
      # is the objective's real pass's, so a penalty at the real batch (R1)
      # differentiates that very D(x), as PyTorch's autograd of one D(x)
      # does, and XLA computes D(real) once.
      k_drop_real = _device_key(spec, named_keys(k["objective"], D_OBJECTIVE_STREAMS)[
          "dropout_real"])

      def d_fn(x):  # spectral norm's u as the real pass had it: the same D(x)
        out = state.discriminator.apply(_variables(d_params, state.d_batch_stats),
                                        *conditioning.module_inputs(x, labels),
                                        train=True, rngs={"dropout": k_drop_real})
        return out if labels is None else out[0]  # a conditional D's (logits, class logits)
      pen = spec.penalty_fn(d_fn=d_fn, x_real=real, x_fake=fakes,
                            key=_device_key(spec, k["penalty"])).mean()
      total += spec.penalty_coefficient * pen
    if _has_terms(spec, "d"):
      total += _loss_terms(spec, state, player="d", d_params=d_params, g_params=g_params,
                           real=real, key=k["terms"], labels=labels)
    return total, (obj, pen, real_logits, fake_logits, stats, class_metrics)

  grads, (obj, pen, real_logits, fake_logits, stats, class_metrics) = jax.grad(
      loss_fn, has_aux=True)(state.d_params)
  grads = _mean_over_devices(spec, grads)
  updates, d_opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
  state = state.replace(d_params=optax.apply_updates(state.d_params, updates),
                        d_opt_state=d_opt_state, d_batch_stats=stats, trick_state=trick_state)
  accuracy = 0.5 * (jnp.mean(spec.objective.is_real(real_logits))
                    + jnp.mean(~spec.objective.is_real(fake_logits)))
  return state, _combine_metrics(spec, {
      "d/loss": obj, "d/penalty": pen, "d/real_logits": real_logits.mean(),
      "d/fake_logits": fake_logits.mean(), "d/accuracy": accuracy,
      "d/max_abs_logit": jnp.maximum(jnp.abs(real_logits).max(), jnp.abs(fake_logits).max()),
      "d/grad_norm": optax.tree.norm(grads), **class_metrics})


def _lookahead_d_params(spec: StepSpec, state: GANState, g_params, batch: jax.Array,
                        key: jax.Array):
  """The D parameters G's loss is taken at: D's own, through the switched-on
  d_lookahead tricks (unrolling); the first takes `key`, the i-th fold_in(key, i)."""
  d_params = state.d_params
  for i, trick in enumerate(spec.d_lookaheads):
    d_params = trick.fn(tricks.LookaheadContext(
        d_params=d_params, d_opt_state=state.d_opt_state, d_tx=state.d_tx, g_params=g_params,
        batch=batch, key=_trick_key(key, i), tricks=spec.tricks,
        d_objective=lambda d, g, real, k: d_objective(spec, state, d, g, real, k)[0]))
  return d_params


def g_update(spec: StepSpec, state: GANState, batch: jax.Array, key: jax.Array,
             shared: tuple | None = None,
             labels: jax.Array | None = None) -> tuple[GANState, Metrics]:
  """G's update (batch [k, B, ...]: the critic batches; G's loss uses the
  last, and its labels [k, B] when conditional: G is asked for those classes).
  key: `update_key(state, "generator")`, split into G_UPDATE_STREAMS.
  `shared` = (fakes, G's VJP at them, G batch stats) from the forward pass the
  D update used (share_latents), else G runs afresh."""
  k = named_keys(key, G_UPDATE_STREAMS)
  real = batch[-1]
  real_labels = None if labels is None else labels[-1]

  def terms(g_params):
    return _loss_terms(spec, state, player="g", d_params=jax.lax.stop_gradient(state.d_params),
                       g_params=g_params, real=real, key=k["terms"], labels=real_labels)

  def loss_fn(g_params):
    d_params = _lookahead_d_params(spec, state, g_params, batch, k["lookahead"])
    loss, g_stats = g_objective(spec, state, g_params, d_params, real, k["objective"],
                                real_labels)
    total = loss
    if _has_terms(spec, "g"):
      total += terms(g_params)
    return total, (loss, g_stats)

  if shared is None:
    grads, (loss, g_stats) = jax.grad(loss_fn, has_aux=True)(state.g_params)
  else:
    fake, g_vjp, g_stats = shared
    keys = named_keys(k["objective"], G_OBJECTIVE_STREAMS)
    loss, fake_grad = jax.value_and_grad(
        lambda f: g_loss_of_fakes(spec, state, f, state.d_params, real, keys, real_labels))(fake)
    (grads,) = g_vjp(fake_grad)
    if _has_terms(spec, "g"):
      grads = jax.tree.map(jnp.add, grads, jax.grad(terms)(state.g_params))
  grads = _mean_over_devices(spec, grads)
  updates, g_opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  state = state.replace(g_params=g_params, g_opt_state=g_opt_state, g_batch_stats=g_stats)
  return state, _mean_over_devices(spec, {"g/loss": loss, "g/grad_norm": optax.tree.norm(grads)})


def train_step(spec: StepSpec, state: GANState, batch) -> tuple[GANState, Metrics]:
  """One generator step: k critic updates, then the generator update.
  batch: float32 [k, B, *sample_shape], or for a class-conditional GAN the
  pair (that, int labels [k, B])."""
  if spec.conditional != isinstance(batch, (tuple, list)):
    raise ValueError("a class-conditional step takes batches (images, labels)" if
                     spec.conditional else "an unconditional step takes an image batch, not "
                     "(images, labels)")
  batch, labels = batch if spec.conditional else (batch, None)
  k = spec.num_critic_steps
  if batch.shape[0] != k:
    raise ValueError(f"batch has {batch.shape[0]} critic batches, config says "
                     f"num_critic_steps={k}")
  penalties.check_penalty_compatible(
      {"params": state.d_params, "batch_stats": state.d_batch_stats}, spec.penalty_name)
  fake = shared = None
  if spec.share_latents:
    # One G forward pass for both updates; D trains on its (constant) output.
    z = _latents(spec, update_key(state, "shared_latents", num_critic_steps=k), batch.shape[1])
    fake, g_vjp, g_stats = jax.vjp(
        lambda p: _apply(state.generator, p, state.g_batch_stats, z,
                         labels=None if labels is None else labels[0]), state.g_params,
        has_aux=True)
    shared = (fake, g_vjp, g_stats)
    fake = jax.lax.stop_gradient(fake)
  d_metrics = []
  # A Python loop (unrolled at trace time): k is small, and lax.scan over the
  # critic steps was far slower with XLA's CPU convolutions.
  for i in range(k):
    key = update_key(state, f"critic/{i}", num_critic_steps=k)
    state, m = d_update(spec, state, batch[i], key, fake,
                        None if labels is None else labels[i])
    d_metrics.append(m)
  metrics = {key: (jnp.max if reductions.is_peak(key) else jnp.mean)(
      jnp.stack([m[key] for m in d_metrics])) for key in d_metrics[0]}
  key = update_key(state, "generator", num_critic_steps=k)
  state, g_metrics = g_update(spec, state, batch, key, shared, labels)
  for trick in spec.state_updates:  # EMA, historical means: the step not yet advanced
    state = trick.fn(state, tricks=spec.tricks)
  for trick in spec.logged:  # e.g. the instance-noise scale of this step
    metrics.update(trick.metrics(state.step, tricks=spec.tricks))
  return state.replace(step=state.step + 1), {**metrics, **g_metrics}


def make_train_step(config: ml_collections.ConfigDict, *, axis_name: str | None = None
                    ) -> Callable[[GANState, jax.Array], tuple[GANState, Metrics]]:
  """`train_step` bound to the config's `StepSpec`: `(state, batch) -> (state, metrics)`.

  Args:
    config: the experiment config.
    axis_name: the device axis when the step runs data-parallel (the models
      must then be built with the same batch-norm axis name).

  Raises:
    ValueError: unknown objective or penalty (listing valid names), impossible
      values, or a gradient penalty combined with a discriminator that mixes
      the examples of a batch (checked when the step first sees the state).
  """
  spec = StepSpec.from_config(config, axis_name=axis_name)

  def step(state: GANState, batch: jax.Array) -> tuple[GANState, Metrics]:
    """`train_step` with the config's spec: batch float32 [k, B, *sample_shape]."""
    return train_step(spec, state, batch)
  return step
