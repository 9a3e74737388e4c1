"""Gradient penalties on the discriminator, by nested `jax.grad`.

Every penalty has the keyword-only signature

  penalty(*, d_fn, x_real, x_fake, key) -> [B]

where `d_fn: [B, ...] -> [B]` maps inputs to logits and closes over the
discriminator's parameters, `x_real` and `x_fake` are [B, ...] batches of the
same shape, and `key` is a PRNG key (ignored by the deterministic penalties,
which accept None). The gradient of D w.r.t. its input is taken as
`jax.grad(lambda x: d_fn(x).sum())(x)`: row i of the result is
grad_x D(x_i) only when D treats examples independently, so batch norm (which
mixes the examples of a batch) invalidates every penalty here;
`check_penalty_compatible` rejects such discriminators. The step differentiates
the returned penalty w.r.t. D's parameters (double backprop) through `d_fn`'s
closure; norms use `optax.safe_norm`, so a zero input gradient gives finite
parameter gradients.

Weight convention: penalties are returned unweighted and per example, and
each declares at registration (`register(name, weight_factor=...)`) the factor
the step applies to `config.penalty.weight`: `penalty_coefficient(name,
weight)`. Factor 1 (the weight is lambda) for `wgan_gp`, `wgan_gp_one_sided`,
`dragan`, `zero_centered` (lambda = 10 in WGAN-GP and DRAGAN); factor 1/2
(the weight is gamma, the step adds gamma / 2) for `r1`, `r2`, `r1_r2` and
`roth`, i.e. R1 = gamma / 2 E||grad D||^2 as in Mescheder et al. 2018
(GAN_stability's `reg_param` omits the 1/2, so their reg_param 10 is our
gamma 20). A named penalty with weight 0 is refused by the config check.

  name               points x_hat                      per-example value
  none               -                                 0
  wgan_gp            eps x_real + (1 - eps) x_fake     (||g|| - 1)^2
  wgan_gp_one_sided  eps x_real + (1 - eps) x_fake     max(0, ||g|| - 1)^2
  dragan             x_real + alpha delta (below)      (||g|| - 1)^2
  r1                 x_real                            ||g||^2
  r2                 x_fake                            ||g||^2
  zero_centered      eps x_real + (1 - eps) x_fake     ||g||^2
  r1_r2              x_real and x_fake                 ||g_real||^2 + ||g_fake||^2
  roth               x_real and x_fake                 (1 - s(x_real))^2 ||g_real||^2
                                                       + s(x_fake)^2 ||g_fake||^2

with g = grad_x D(x_hat), eps ~ U[0, 1] per example, and ||.|| the l2 norm
over all non-batch axes. `zero_centered` is the zero-centred penalty on
interpolates (Roth et al. 2017 style, "GP-0" of Thanh-Tung et al. 2019).

`roth` is Roth et al. (2017)'s penalty for a logistic D, s = sigmoid(D): the
squared input gradient of the logits weighted by how wrong D is at each point
(nothing stopped: the weights are differentiated too); the Dirac-GAN lab's
"Gradient penalty" row.

DRAGAN (Kodali et al. 2017): the perturbation follows the authors' reference
code: delta = 0.5 * std(x_real) * u with u ~ U[0, 1] elementwise and std the
scalar standard deviation of the whole real batch, and the penalty is taken at
x_real + alpha * delta with alpha ~ U[0, 1] per example (their code penalises
random points on the segment from x to x + delta, not only x + delta).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

import jax
import jax.numpy as jnp
import optax

from gan_jax.models import spectral_norm
from gan_jax.registry import Registry

Array = jax.Array
DFn = Callable[[Array], Array]


class Penalty(Protocol):
  """`(*, d_fn, x_real [B, ...], x_fake [B, ...], key) -> [B]`."""

  def __call__(self, *, d_fn: DFn, x_real: Array, x_fake: Array,
               key: Array | None) -> Array:
    ...


PENALTIES: Registry[Penalty] = Registry("gradient penalty")
_WEIGHT_FACTORS: dict[str, float] = {}


def register(name: str, *, weight_factor: float = 1.0) -> Callable[[Penalty], Penalty]:
  """Decorator: registers a penalty under `name`; the step adds
  `weight_factor * config.penalty.weight * mean(penalty)`."""
  def add(fn: Penalty) -> Penalty:
    PENALTIES.register(name, fn)
    _WEIGHT_FACTORS[name] = weight_factor
    return fn
  return add


def penalty_coefficient(name: str, weight: float) -> float:
  """The factor the step multiplies the mean penalty by: weight_factor * weight.

  Raises:
    ValueError: unknown name, or a penalty put into PENALTIES without `register`
      (which declares its weight convention).
  """
  PENALTIES.get(name)
  if name not in _WEIGHT_FACTORS:
    raise ValueError(f"penalty {name!r} declares no weight convention: register it with "
                     "penalties.register(name, weight_factor=...)")
  return _WEIGHT_FACTORS[name] * weight


def get_penalty(name: str) -> Penalty:
  """Returns the registered penalty function.

  Args:
    name: one of `PENALTIES.names()`: dragan, none, r1, r1_r2, r2, roth,
      wgan_gp, wgan_gp_one_sided, zero_centered.

  Raises:
    ValueError: if `name` is unknown; the message lists the valid names.
  """
  return PENALTIES.get(name)


def check_penalty_compatible(d_variables: Mapping[str, Any],
                             penalty_name: str | None = None) -> None:
  """Raises if the discriminator mixes examples, which invalidates penalties.

  Args:
    d_variables: the discriminator's flax variables dict ({'params': ...,
      maybe 'batch_stats': ...}).
    penalty_name: the configured penalty; "none" skips the check. Used in the
      error message.

  Raises:
    ValueError: if `d_variables` has a non-empty 'batch_stats' collection
      (spectral normalization's vectors aside: they act per weight, not per batch).
  """
  if penalty_name == "none":
    return
  batch_stats = d_variables.get("batch_stats")
  if batch_stats and jax.tree_util.tree_leaves(spectral_norm.without_spectral_norm(batch_stats)):
    which = (f"penalty {penalty_name!r}" if penalty_name
             else "gradient penalties")
    raise ValueError(
        f"The discriminator has a 'batch_stats' collection (batch norm), but "
        f"{which} need per-example input gradients, and batch norm mixes the "
        f"examples of a batch. Use a discriminator without batch norm (e.g. "
        f"layer norm or no normalisation), or no gradient penalty.")


def _check_inputs(x_real: Array, x_fake: Array) -> None:
  if jnp.ndim(x_real) < 2:
    raise ValueError(
        f"x_real must have shape [B, ...] with at least one feature axis, got "
        f"{jnp.shape(x_real)}")
  if jnp.shape(x_real) != jnp.shape(x_fake):
    raise ValueError(
        f"x_real and x_fake must have the same shape, got {jnp.shape(x_real)} "
        f"and {jnp.shape(x_fake)}")


def _check_key(key: Array | None, name: str) -> None:
  if key is None:
    raise ValueError(f"penalty {name!r} samples random points and needs a key")


def input_gradients(*, d_fn: DFn, x: Array) -> Array:
  """Per-example gradients of D's logits w.r.t. its inputs.

  Args:
    d_fn: `[B, ...] -> [B]` logits; must treat examples independently.
    x: inputs, [B, ...].

  Returns:
    grad_x D(x_i) stacked, [B, ...] (same shape as x).

  Raises:
    ValueError: if `d_fn(x)` is not of shape [B].
  """
  batch_size = jnp.shape(x)[0]

  def total(x_: Array) -> Array:
    logits = d_fn(x_)
    if jnp.shape(logits) != (batch_size,):
      raise ValueError(
          f"d_fn must return one logit per example, shape ({batch_size},), got "
          f"{jnp.shape(logits)}")
    return logits.sum()

  return jax.grad(total)(x)


def _gradient_norms(*, d_fn: DFn, x: Array) -> Array:
  """||grad_x D(x_i)||_2 over all non-batch axes, [B]; safe at zero."""
  grads = input_gradients(d_fn=d_fn, x=x)
  return optax.safe_norm(grads.reshape(grads.shape[0], -1), 0.0, axis=1)


def _squared_gradient_norms(*, d_fn: DFn, x: Array) -> Array:
  """||grad_x D(x_i)||_2^2 over all non-batch axes, [B]."""
  grads = input_gradients(d_fn=d_fn, x=x)
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)


def _per_example_uniform(key: Array, x: Array) -> Array:
  """U[0, 1] samples of shape [B, 1, ..., 1], broadcastable against x."""
  shape = (x.shape[0],) + (1,) * (x.ndim - 1)
  return jax.random.uniform(key, shape, dtype=x.dtype)


def interpolates(*, x_real: Array, x_fake: Array, key: Array) -> Array:
  """Random points eps x_real + (1 - eps) x_fake, eps ~ U[0, 1] per example.

  Args:
    x_real: [B, ...].
    x_fake: [B, ...].
    key: PRNG key.

  Returns:
    [B, ...].
  """
  _check_inputs(x_real, x_fake)
  eps = _per_example_uniform(key, x_real)
  return eps * x_real + (1.0 - eps) * x_fake


def dragan_points(*, x_real: Array, key: Array) -> Array:
  """DRAGAN's perturbed real points x + alpha * 0.5 * std(x) * u.

  u ~ U[0, 1] elementwise, alpha ~ U[0, 1] per example, std over the whole
  batch (a scalar), as in the authors' reference code.

  Args:
    x_real: [B, ...].
    key: PRNG key.

  Returns:
    [B, ...].
  """
  noise_key, alpha_key = jax.random.split(key)
  delta = 0.5 * jnp.std(x_real) * jax.random.uniform(
      noise_key, x_real.shape, dtype=x_real.dtype)
  alpha = _per_example_uniform(alpha_key, x_real)
  return x_real + alpha * delta


@register("none")
def no_penalty(*, d_fn: DFn, x_real: Array, x_fake: Array,
               key: Array | None = None) -> Array:
  """Zeros [B]; D is not evaluated."""
  del d_fn, key
  _check_inputs(x_real, x_fake)
  return jnp.zeros(x_real.shape[:1], x_real.dtype)


@register("wgan_gp")
def wgan_gp(*, d_fn: DFn, x_real: Array, x_fake: Array,
            key: Array | None) -> Array:
  """Two-sided WGAN-GP (||grad D(x_hat)|| - 1)^2 on interpolates, [B]."""
  _check_key(key, "wgan_gp")
  x_hat = interpolates(x_real=x_real, x_fake=x_fake, key=key)
  return jnp.square(_gradient_norms(d_fn=d_fn, x=x_hat) - 1.0)


@register("wgan_gp_one_sided")
def wgan_gp_one_sided(*, d_fn: DFn, x_real: Array, x_fake: Array,
                      key: Array | None) -> Array:
  """One-sided max(0, ||grad D(x_hat)|| - 1)^2 on interpolates, [B]."""
  _check_key(key, "wgan_gp_one_sided")
  x_hat = interpolates(x_real=x_real, x_fake=x_fake, key=key)
  return jnp.square(jax.nn.relu(_gradient_norms(d_fn=d_fn, x=x_hat) - 1.0))


@register("dragan")
def dragan(*, d_fn: DFn, x_real: Array, x_fake: Array,
           key: Array | None) -> Array:
  """DRAGAN (||grad D(x_real + alpha delta)|| - 1)^2, [B]; x_fake unused."""
  _check_key(key, "dragan")
  _check_inputs(x_real, x_fake)
  x_hat = dragan_points(x_real=x_real, key=key)
  return jnp.square(_gradient_norms(d_fn=d_fn, x=x_hat) - 1.0)


@register("r1", weight_factor=0.5)
def r1(*, d_fn: DFn, x_real: Array, x_fake: Array,
       key: Array | None = None) -> Array:
  """R1 without its weight: ||grad D(x_real)||^2, [B]; x_fake, key unused."""
  del key
  _check_inputs(x_real, x_fake)
  return _squared_gradient_norms(d_fn=d_fn, x=x_real)


@register("r2", weight_factor=0.5)
def r2(*, d_fn: DFn, x_real: Array, x_fake: Array,
       key: Array | None = None) -> Array:
  """R2 without its weight: ||grad D(x_fake)||^2, [B]; x_real, key unused."""
  del key
  _check_inputs(x_real, x_fake)
  return _squared_gradient_norms(d_fn=d_fn, x=x_fake)


@register("zero_centered")
def zero_centered(*, d_fn: DFn, x_real: Array, x_fake: Array,
                  key: Array | None) -> Array:
  """Zero-centred ||grad D(x_hat)||^2 on interpolates, [B]."""
  _check_key(key, "zero_centered")
  x_hat = interpolates(x_real=x_real, x_fake=x_fake, key=key)
  return _squared_gradient_norms(d_fn=d_fn, x=x_hat)


@register("r1_r2", weight_factor=0.5)
def r1_r2(*, d_fn: DFn, x_real: Array, x_fake: Array,
          key: Array | None = None) -> Array:
  """R1 + R2 without the weight: ||grad D(x_real)||^2 + ||grad D(x_fake)||^2, [B]."""
  del key
  _check_inputs(x_real, x_fake)
  return _squared_gradient_norms(d_fn=d_fn, x=x_real) + _squared_gradient_norms(d_fn=d_fn,
                                                                                 x=x_fake)


@register("roth", weight_factor=0.5)
def roth(*, d_fn: DFn, x_real: Array, x_fake: Array, key: Array | None = None) -> Array:
  """Roth et al. 2017: (1 - s(x_r))^2 ||grad D(x_r)||^2 + s(x_f)^2 ||grad D(x_f)||^2, [B]."""
  del key
  _check_inputs(x_real, x_fake)
  weight_real = jnp.square(1.0 - jax.nn.sigmoid(d_fn(x_real)))
  weight_fake = jnp.square(jax.nn.sigmoid(d_fn(x_fake)))
  return (weight_real * _squared_gradient_norms(d_fn=d_fn, x=x_real)
          + weight_fake * _squared_gradient_norms(d_fn=d_fn, x=x_fake))
