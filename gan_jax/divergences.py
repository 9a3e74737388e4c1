"""f-divergences for f-GAN (Nowozin et al. 2016): f, g_f, f*, f'(1).

An f-divergence is D_f(P || Q) = E_Q[f(p(x) / q(x))] for a convex generator
`f` with f(1) = 0 (except `gan`, whose f(1) = -log 4). Its variational
(Fenchel) lower bound is

  D_f(P || Q) >= sup_T E_P[T(x)] - E_Q[f*(T(x))],

with f*(t) = sup_u (u t - f(u)) the convex conjugate, attained at
T*(x) = f'(p(x) / q(x)). f-GAN writes the critic as T(x) = g_f(v(x)): the
discriminator network outputs an unconstrained v ("logits") and the output
activation g_f maps R into the effective domain of f*, so that f*(T) is always
finite. `Divergence.conjugate(t)` is only defined on that domain (it returns
nan or inf outside it); the objectives in `gan_jax.losses` therefore use
`Divergence.conjugate_of_activation(v)`, a numerically stable closed form of
f*(g_f(v)) that is finite for every finite v.

The table follows REFERENCES.md (Nowozin et al. 2016, Tables 1 and 2):

  name               f(u)                          f'(1)   domain of f*
  gan                u log u - (u+1) log(u+1)      -log 2  t < 0
  js                 u log u - (u+1) log((u+1)/2)  0       t < log 2
  kl                 u log u                       1       R
  reverse_kl         -log u                        -1      t < 0
  pearson            (u - 1)^2                     0       R
  squared_hellinger  (sqrt(u) - 1)^2               0       t < 1

  name               g_f(v)                f*(t)           f*(g_f(v))
  gan                -log(1 + e^-v)        -log(1 - e^t)   softplus(v)
  js                 log 2 - log(1+e^-v)   -log(2 - e^t)   softplus(v) - log 2
  kl                 v                     exp(t - 1)      exp(v - 1)
  reverse_kl         -exp(-v)              -1 - log(-t)    v - 1
  pearson            v                     t^2 / 4 + t     v^2 / 4 + v
  squared_hellinger  1 - exp(-v)           t / (1 - t)     exp(v) - 1

Note the `js` generator is that of 2 * JSD (the table's f without a 1/2), so
that its conjugate is exactly -log(2 - e^t); `gan` is 2 * JSD - log 4.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp

from gan_jax.registry import Registry

Array = jax.Array

_LOG2 = math.log(2.0)


@dataclasses.dataclass(frozen=True)
class Divergence:
  """An f-divergence as the pure functions f-GAN needs; all are elementwise.

  Attributes:
    name: registry name.
    f: the convex generator f(u), u > 0 (u >= 0 where f extends); f(1) = 0
      except for `gan` (f(1) = -log 4). Used by tests and to compute true
      divergences, not by training.
    activation: g_f(v): maps raw discriminator outputs v in R into the
      effective domain of the conjugate. Any shape -> same shape.
    conjugate: f*(t), finite only for t in `domain`. Any shape -> same shape.
    conjugate_of_activation: f*(g_f(v)) in a numerically stable closed form,
      finite for every finite v. Any shape -> same shape.
    threshold: f'(1); f-GAN counts a sample as real when g_f(v) > f'(1).
    domain: the open interval (low, high) on which `conjugate` is finite
      (-inf / inf for unbounded ends); g_f maps R into it.
  """
  name: str
  f: Callable[[Array], Array]
  activation: Callable[[Array], Array]
  conjugate: Callable[[Array], Array]
  conjugate_of_activation: Callable[[Array], Array]
  threshold: float
  domain: tuple[float, float]


DIVERGENCES: Registry[Divergence] = Registry("divergence")


def get_divergence(name: str) -> Divergence:
  """Returns the registered f-divergence.

  Args:
    name: one of `DIVERGENCES.names()`: gan, js, kl, pearson, reverse_kl,
      squared_hellinger.

  Raises:
    ValueError: if `name` is unknown; the message lists the valid names.
  """
  return DIVERGENCES.get(name)


def _xlogx(u: Array) -> Array:
  """u log u with the continuous extension 0 log 0 = 0."""
  return jax.scipy.special.xlogy(u, u)


# --- GAN: f(u) = u log u - (u + 1) log(u + 1) -------------------------------


def _gan_f(u: Array) -> Array:
  return _xlogx(u) - _xlogx(u + 1.0)


def _gan_activation(v: Array) -> Array:
  # -log(1 + e^-v) = log sigmoid(v) < 0.
  return jax.nn.log_sigmoid(v)


def _gan_conjugate(t: Array) -> Array:
  # -log(1 - e^t) = -log(-expm1(t)); finite for t < 0.
  return -jnp.log(-jnp.expm1(t))


def _gan_conjugate_of_activation(v: Array) -> Array:
  # 1 - sigmoid(v) = sigmoid(-v), so f*(g(v)) = -log sigmoid(-v) = softplus(v).
  return jax.nn.softplus(v)


# --- Jensen-Shannon (2 * JSD): f(u) = u log u - (u + 1) log((u + 1) / 2) -----


def _js_f(u: Array) -> Array:
  return _xlogx(u) - _xlogx(u + 1.0) + (u + 1.0) * _LOG2


def _js_activation(v: Array) -> Array:
  return _LOG2 + jax.nn.log_sigmoid(v)


def _js_conjugate(t: Array) -> Array:
  # -log(2 - e^t); finite for t < log 2.
  return -jnp.log(2.0 - jnp.exp(t))


def _js_conjugate_of_activation(v: Array) -> Array:
  # 2 - 2 sigmoid(v) = 2 sigmoid(-v): f*(g(v)) = softplus(v) - log 2.
  return jax.nn.softplus(v) - _LOG2


# --- KL: f(u) = u log u ------------------------------------------------------


def _kl_conjugate(t: Array) -> Array:
  return jnp.exp(t - 1.0)


# --- Reverse KL: f(u) = -log u ------------------------------------------------


def _reverse_kl_f(u: Array) -> Array:
  return -jnp.log(u)


def _reverse_kl_activation(v: Array) -> Array:
  return -jnp.exp(-v)


def _reverse_kl_conjugate(t: Array) -> Array:
  # -1 - log(-t); finite for t < 0.
  return -1.0 - jnp.log(-t)


def _reverse_kl_conjugate_of_activation(v: Array) -> Array:
  # -1 - log(exp(-v)) = v - 1.
  return v - 1.0


# --- Pearson chi^2: f(u) = (u - 1)^2 ------------------------------------------


def _pearson_f(u: Array) -> Array:
  return jnp.square(u - 1.0)


def _pearson_conjugate(t: Array) -> Array:
  return 0.25 * jnp.square(t) + t


# --- Squared Hellinger: f(u) = (sqrt(u) - 1)^2 --------------------------------


def _squared_hellinger_f(u: Array) -> Array:
  return jnp.square(jnp.sqrt(u) - 1.0)


def _squared_hellinger_activation(v: Array) -> Array:
  # 1 - exp(-v) = -expm1(-v) < 1.
  return -jnp.expm1(-v)


def _squared_hellinger_conjugate(t: Array) -> Array:
  # t / (1 - t); finite for t < 1.
  return t / (1.0 - t)


def _squared_hellinger_conjugate_of_activation(v: Array) -> Array:
  # t = 1 - e^-v, 1 - t = e^-v: f*(g(v)) = (1 - e^-v) e^v = e^v - 1.
  return jnp.expm1(v)


def _identity(v: Array) -> Array:
  return v


_INF = math.inf

for _divergence in (
    Divergence(
        name="gan", f=_gan_f, activation=_gan_activation,
        conjugate=_gan_conjugate,
        conjugate_of_activation=_gan_conjugate_of_activation,
        threshold=-_LOG2, domain=(-_INF, 0.0)),
    Divergence(
        name="js", f=_js_f, activation=_js_activation,
        conjugate=_js_conjugate,
        conjugate_of_activation=_js_conjugate_of_activation,
        threshold=0.0, domain=(-_INF, _LOG2)),
    Divergence(
        name="kl", f=_xlogx, activation=_identity,
        conjugate=_kl_conjugate,
        conjugate_of_activation=_kl_conjugate,
        threshold=1.0, domain=(-_INF, _INF)),
    Divergence(
        name="reverse_kl", f=_reverse_kl_f, activation=_reverse_kl_activation,
        conjugate=_reverse_kl_conjugate,
        conjugate_of_activation=_reverse_kl_conjugate_of_activation,
        threshold=-1.0, domain=(-_INF, 0.0)),
    Divergence(
        name="pearson", f=_pearson_f, activation=_identity,
        conjugate=_pearson_conjugate,
        conjugate_of_activation=_pearson_conjugate,
        threshold=0.0, domain=(-_INF, _INF)),
    Divergence(
        name="squared_hellinger", f=_squared_hellinger_f,
        activation=_squared_hellinger_activation,
        conjugate=_squared_hellinger_conjugate,
        conjugate_of_activation=_squared_hellinger_conjugate_of_activation,
        threshold=0.0, domain=(-_INF, 1.0)),
):
  DIVERGENCES.register(_divergence.name, _divergence)
del _divergence
