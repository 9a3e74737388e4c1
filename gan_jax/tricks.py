"""Training tricks as pure functions, and the registry the step composes them from.

A registered trick is one pure function plus one `register` line naming its
kind and the `config.tricks` field that switches it on (a non-zero value):
  loss_term        `fn(ctx: TermContext) -> []`, added to the loss of each
                   player in `players` (after the objective and the penalty).
  input_transform  `fn(x, *, key, step, tricks, normal) -> x`, applied to every
                   input D sees, in both updates (`normal(key, shape)` draws
                   N(0, 1) as the global batch's slice under data parallelism).
  state_update     `fn(state, *, tricks) -> state`, applied after the
                   generator update (the step counter not yet advanced).
  g_loss           `fn(*, real_features, fake_features) -> []`, G's loss in
                   place of the objective's, of D's features [B, F] (the
                   penultimate layer's, which every D returns with
                   `with_features=True`: `steps.discriminate`); at most one.
  d_lookahead      `fn(ctx: LookaheadContext) -> d_params`, the D parameters
                   G's loss is taken at (differentiable in G's parameters).
  d_fakes          `fn(fake, *, kept, key, tricks) -> (fake, kept)`: the fake
                   batch D trains on in each critic update, of the fresh one
                   (both the global batch under data parallelism), and the
                   trick's new state.
A trick that keeps a state gives `init(sample_shape, *, tricks[, g_params]) -> kept`
(`init_kept`); the state lives in `GANState.trick_state[name]` and is
checkpointed with the rest.
A trick may also log: `metrics(step, *, tricks) -> {name: []}`, added to the
step's metrics. `enabled(tricks, kind)` lists the switched-on tricks of a kind
in registration order; the step runs them in that order. The registered ones:

  DiffAugment            random translation / cutout / colour, drawn per image,
                         on every image D sees (real and fake, in both
                         updates), differentiable, so G learns through them
                         (Zhao et al. 2020; `gan_jax.augment`). Registered
                         before instance noise: with both, the noise is added
                         to the augmented image.
  instance noise         N(0, s_t^2) added to every input D sees (real and
                         fake, in both updates), s_t annealed linearly to 0.
  feature matching       G minimises ||E f(x) - E f(G(z))||^2 over D's
                         penultimate features f (Salimans et al. 2016).
  unrolled GAN           G's loss at D's parameters after `unrolled_steps`
                         differentiable updates of D's own optimizer (on the
                         critic batches, cycled), gradients flowing through
                         them (Metz et al. 2017); D's real update is unchanged.
  historical averaging   both players add w ||theta - mean_t theta_t||^2.
  consensus optimization both players add gamma/2 ||v||^2, v the joint vector
                         field (grad_theta L_G, grad_psi L_D) (Mescheder 2017).
  generator EMA          theta_ema <- d theta_ema + (1 - d) theta after each G
                         update from `start` on (theta_ema = theta before).
  EMA candidates         several such EMAs (`ema_candidates`: 'd@s,...') kept in
                         trick_state beside training, which they do not touch,
                         and each scored at every evaluation: one run measures
                         every (decay, start) on the same trajectory.
  fake pool              historical generated batches (Shrivastava et al.
                         2017; CycleGAN's image pool): D's fake batch mixes
                         earlier fakes from a pool into the fresh ones.
Label smoothing is the real target inside the objectives' own D losses
(`gan_jax.losses`); minibatch discrimination and virtual batch norm are layers
in `models/`.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax

from gan_jax import augment
from gan_jax.errors import ConfigError
from gan_jax.registry import Registry

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


# --- the registry ----------------------------------------------------------------------------

KINDS = ("loss_term", "input_transform", "state_update", "g_loss", "d_lookahead", "d_fakes")


@dataclasses.dataclass(frozen=True)
class Trick:
  """A registered trick: see the module docstring for each kind's signature."""
  name: str
  kind: str
  config_field: str  # the `config.tricks` field whose non-zero value switches it on
  fn: Callable[..., Any]
  players: tuple[str, ...] = ("d", "g")  # loss terms: whose loss it joins
  metrics: Callable[..., Mapping[str, Array]] | None = None  # (step, *, tricks) -> logged
  init: Callable[..., PyTree] | None = None  # (sample_shape, *, tricks) -> its kept state


@dataclasses.dataclass(frozen=True)
class TermContext:
  """What a loss term sees in one player's update.

  Attributes:
    player: "d" or "g", whose loss this is.
    d_params, g_params: the two players' parameters; the player's own are the
      ones differentiated, the other's are constant.
    state: the GANState before the update.
    real: the update's real batch [B, ...].
    key: the term's own RNG stream in this update.
    tricks: `config.tricks` as a dict (the term's weight and options).
    d_objective: `(d_params, g_params, key) -> []`, D's objective (no penalty).
    g_objective: `(g_params, d_params, key) -> []`, G's objective.
    discriminate: `(d_params, x, key) -> steps.DOutput`, D in train mode on
      x [B, ...] (the update's labels when class-conditional; dropout from `key`):
      logits, class logits, batch stats (not kept) and features.
  """
  player: str
  d_params: PyTree
  g_params: PyTree
  state: Any
  real: Array
  key: Array
  tricks: Mapping[str, Any]
  d_objective: Callable[[PyTree, PyTree, Array], Array]
  g_objective: Callable[[PyTree, PyTree, Array], Array]
  discriminate: Callable[[PyTree, Array, Array], Any] | None = None

  @property
  def params(self) -> PyTree:
    return self.d_params if self.player == "d" else self.g_params


@dataclasses.dataclass(frozen=True)
class LookaheadContext:
  """What a d_lookahead trick sees in the generator update.

  Attributes:
    d_params, d_opt_state: D's parameters and optimizer state (constants).
    d_tx: D's optax optimizer.
    g_params: G's parameters, the ones differentiated.
    batch: the critic batches [k, B, ...].
    key: the trick's own RNG stream.
    tricks: `config.tricks` as a dict.
    d_objective: `(d_params, g_params, real, key) -> []`, D's objective (no penalty).
  """
  d_params: PyTree
  d_opt_state: PyTree
  d_tx: optax.GradientTransformation
  g_params: PyTree
  batch: Array
  key: Array
  tricks: Mapping[str, Any]
  d_objective: Callable[[PyTree, PyTree, Array, Array], Array]


TRICKS: Registry[Trick] = Registry("trick")
_ORDER: list[str] = []


def register(name: str, *, kind: str, config_field: str, players: tuple[str, ...] = ("d", "g"),
             metrics: Callable[..., Mapping[str, Array]] | None = None,
             init: Callable[..., PyTree] | None = None) -> Callable[[Callable], Callable]:
  """Decorator: registers `fn` as a trick of `kind`, on when `config.tricks.<config_field>`
  is non-zero (the field must exist in the base config); `metrics` (optional)
  gives what it logs, `init` (optional) its initial kept state."""
  if kind not in KINDS:
    raise ValueError(f"Unknown trick kind {kind!r}; valid: {', '.join(KINDS)}")

  def add(fn: Callable) -> Callable:
    TRICKS.register(name, Trick(name, kind, config_field, fn, tuple(players), metrics, init))
    if name not in _ORDER:  # the same definition again replaces it in place
      _ORDER.append(name)
    return fn
  return add


def init_kept(trick: Trick, sample_shape: tuple[int, ...], *, tricks: Mapping[str, Any],
              g_params: PyTree) -> PyTree:
  """The initial kept state of `trick` (which has an `init`), handed G's
  initial parameters when its init names `g_params`."""
  if "g_params" in inspect.signature(trick.init).parameters:
    return trick.init(sample_shape, tricks=tricks, g_params=g_params)
  return trick.init(sample_shape, tricks=tricks)


def enabled(tricks: Mapping[str, Any], kind: str) -> tuple[Trick, ...]:
  """The registered tricks of `kind` that `tricks` (config.tricks as a dict) switches on."""
  out = []
  for name in _ORDER:
    trick = TRICKS.get(name)
    if trick.kind != kind:
      continue
    if trick.config_field not in tricks:
      raise ValueError(f"trick {name!r} reads config.tricks.{trick.config_field}, which the "
                       "base config does not have")
    if tricks[trick.config_field]:
      out.append(trick)
  return tuple(out)


@register("diffaugment", kind="input_transform", config_field="diffaugment")
def diffaugment_input(x: Array, *, key: Array, step: Array, tricks: Mapping[str, Any],
                      normal: Callable[[Array, tuple[int, ...]], Array]) -> Array:
  """DiffAugment's policies `diffaugment` (comma-separated) at `diffaugment_strength`
  on images x [B, H, W, C], each image with its own draws from `key`."""
  del step
  return augment.diffaugment(x, policies=augment.parse_policies(tricks["diffaugment"]),
                             strength=tricks["diffaugment_strength"], key=key, normal=normal)


def instance_noise_metrics(step: Array, *, tricks: Mapping[str, Any]) -> dict[str, Array]:
  return {"d/instance_noise_std": instance_noise_std(
      step, std=tricks["instance_noise_std"], anneal_steps=tricks["instance_noise_anneal_steps"])}


@register("instance_noise", kind="input_transform", config_field="instance_noise_std",
          metrics=instance_noise_metrics)
def add_instance_noise(x: Array, *, key: Array, step: Array, tricks: Mapping[str, Any],
                       normal: Callable[[Array, tuple[int, ...]], Array]) -> Array:
  """x + s_t * N(0, 1), s_t the annealed `instance_noise_std`; `normal(key, shape)`
  draws the noise (the step's draw is the global batch's slice under data parallelism)."""
  std = instance_noise_std(step, std=tricks["instance_noise_std"],
                           anneal_steps=tricks["instance_noise_anneal_steps"])
  return x + std * normal(key, x.shape)


@register("historical_averaging", kind="loss_term", config_field="historical_averaging")
def historical_averaging_term(ctx: TermContext) -> Array:
  """w ||theta - mean_t theta_t||^2 for the player's own parameters."""
  history = ctx.state.d_history if ctx.player == "d" else ctx.state.g_history
  return ctx.tricks["historical_averaging"] * sq_distance(ctx.params, history)


@register("consensus", kind="loss_term", config_field="consensus")
def consensus_term(ctx: TermContext) -> Array:
  """gamma * 1/2 ||v||^2 of the joint field v at (g_params, d_params)."""
  k_d, k_g = jax.random.split(ctx.key)
  d_field = jax.grad(lambda p: ctx.d_objective(p, ctx.g_params, k_d))(ctx.d_params)
  g_field = jax.grad(lambda p: ctx.g_objective(p, ctx.d_params, k_g))(ctx.g_params)
  return ctx.tricks["consensus"] * consensus_regularizer(g_field=g_field, d_field=d_field)


@register("ema", kind="state_update", config_field="ema_decay")
def update_ema(state: Any, *, tricks: Mapping[str, Any]) -> Any:
  """The generator EMA after this generator update."""
  return state.replace(ema_params=ema_update(
      state.ema_params, state.g_params, decay=tricks["ema_decay"], step=state.step,
      start=tricks["ema_start"]))


def parse_ema_candidates(text: str) -> tuple[tuple[float, int], ...]:
  """'0.999@0,0.9995@1000' -> ((0.999, 0), (0.9995, 1000)); '' -> (); a bare
  decay starts at 0.

  Raises:
    ConfigError: an entry that is not `decay@start` with 0 < decay < 1 and start >= 0.
  """
  out = []
  for entry in filter(None, (e.strip() for e in text.split(","))):
    decay, _, start = entry.partition("@")
    try:
      pair = (float(decay), int(start or 0))
    except ValueError:
      pair = None
    if pair is None or not (0.0 < pair[0] < 1.0 and pair[1] >= 0):
      raise ConfigError(f"config.tricks.ema_candidates: {entry!r} is not decay@start with "
                        "0 < decay < 1 and an integer start >= 0 (e.g. '0.999@1000')")
    out.append(pair)
  return tuple(out)


def ema_candidate_names(text: str) -> list[str]:
  """The candidates' names in logged keys, e.g. 'ema0.999@1000'."""
  return [f"ema{decay:g}@{start}" for decay, start in parse_ema_candidates(text)]


def ema_candidates_init(sample_shape: tuple[int, ...], *, tricks: Mapping[str, Any],
                        g_params: PyTree) -> list[PyTree]:
  """One copy of G's initial parameters per candidate."""
  del sample_shape
  return [jax.tree.map(jnp.copy, g_params) for _ in parse_ema_candidates(tricks["ema_candidates"])]


@register("ema_candidates", kind="state_update", config_field="ema_candidates",
          init=ema_candidates_init)
def update_ema_candidates(state: Any, *, tricks: Mapping[str, Any]) -> Any:
  """Every candidate EMA after this generator update (`ema_update` each)."""
  kept = state.trick_state["ema_candidates"]
  new = [ema_update(ema, state.g_params, decay=decay, step=state.step, start=start)
         for ema, (decay, start) in zip(kept, parse_ema_candidates(tricks["ema_candidates"]))]
  return state.replace(trick_state={**state.trick_state, "ema_candidates": new})


@register("historical_means", kind="state_update", config_field="historical_averaging")
def update_historical_means(state: Any, *, tricks: Mapping[str, Any]) -> Any:
  """Means over the parameters after updates 0..step (the initial ones included)."""
  del tricks
  count = state.step + 1
  return state.replace(
      g_history=running_mean(state.g_history, state.g_params, count=count),
      d_history=running_mean(state.d_history, state.d_params, count=count))


register("feature_matching", kind="g_loss", config_field="feature_matching")(
    feature_matching_loss)


@register("unrolled", kind="d_lookahead", config_field="unrolled_steps")
def unrolled_d_params(ctx: LookaheadContext) -> PyTree:
  """D's parameters after `unrolled_steps` differentiable updates of its own
  optimizer, update j on critic batch j mod k with key fold_in(key, j)."""
  d_params, opt_state = ctx.d_params, ctx.d_opt_state
  for j in range(ctx.tricks["unrolled_steps"]):
    real = ctx.batch[j % len(ctx.batch)]
    grads = jax.grad(lambda p: ctx.d_objective(p, ctx.g_params, real,
                                               jax.random.fold_in(ctx.key, j)))(d_params)
    updates, opt_state = ctx.d_tx.update(grads, opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
  return d_params


def fake_pool_init(sample_shape: tuple[int, ...], *, tricks: Mapping[str, Any]) -> dict:
  """An empty pool: `images` [fake_pool_size, *sample_shape] and `count` [] (filled)."""
  return {"images": jnp.zeros((tricks["fake_pool_size"], *sample_shape), jnp.float32),
          "count": jnp.zeros((), jnp.int32)}


def pool_draws(batch_size: int, *, tricks: Mapping[str, Any]) -> int:
  """How many of a D fake batch of `batch_size` come from a full pool."""
  return round(tricks["fake_pool_share"] * batch_size)


@register("fake_pool", kind="d_fakes", config_field="fake_pool_size", init=fake_pool_init)
def historical_fake_batch(fake: Array, *, kept: dict, key: Array,
                          tricks: Mapping[str, Any]) -> tuple[Array, dict]:
  """Historical generated batches (Shrivastava et al. 2017): D's fake batch
  [B, ...] with its first m = round(share * B) fakes swapped for m distinct
  random pool entries, which those m fresh fakes replace in the pool (a swap,
  as CycleGAN's image pool does). Until the pool is full, D sees the fresh
  fakes and they fill it in order."""
  images, count = kept["images"], kept["count"]
  size, batch = images.shape[0], fake.shape[0]
  m = pool_draws(batch, tricks=tricks)
  if m > size:
    raise ValueError(f"fake_pool_size {size} is below the {m} fakes a batch draws from it "
                     f"(fake_pool_share x batch {batch})")
  idx = jax.random.choice(key, size, (m,), replace=False)
  full = count >= size
  mixed = fake.at[:m].set(images[idx])
  swapped = images.at[idx].set(fake[:m])
  filled = images.at[count + jnp.arange(batch)].set(fake, mode="drop")
  return (jnp.where(full, mixed, fake),
          {"images": jnp.where(full, swapped, filled), "count": jnp.minimum(count + batch, size)})
