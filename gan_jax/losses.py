"""GAN objectives: discriminator logits -> per-example D and G losses.

Conventions: D maximises V, so `d_loss` is what the discriminator minimises and
`g_loss` what the generator minimises. Inputs are raw discriminator outputs
("logits", v in the f-GAN notation), shapes [B]; outputs are unreduced [B]
(the step takes the mean). `d_loss` pairs real example i with fake example i,
so both batches must have the same size B.

Label smoothing (one-sided, Salimans et al. 2016) is the real target 1 - eps
inside an objective's own D loss, for those whose D loss names
`label_smoothing`: the logistic ones (real term -(1-eps) log D(x) - eps
log(1 - D(x))) and least squares (b = 1 - eps). Convention: eps is the
distance of the target from 1; TF-GAN's `one_sided_label_smoothing=0.25` mixes
the label with 0.5 (target 0.875), which is eps = 0.125 here.

  name            d_loss(real r, fake f)      g_loss(fake f)   threshold
  minimax         softplus(-r) + softplus(f)  -softplus(f)     0
  non_saturating  softplus(-r) + softplus(f)  softplus(-f)     0
  max_likelihood  softplus(-r) + softplus(f)  -exp(f)          0
  wasserstein     f - r                       -f               0
  least_squares   (r - 1)^2 / 2 + f^2 / 2     (f - 1)^2 / 2    1/2
  hinge           relu(1 - r) + relu(1 + f)   -f               0
  fgan_<div>      -g_f(r) + f*(g_f(f))        -f*(g_f(f))      f'(1)
  ragan           softplus(-(r - E f))        softplus(-(f - E r))  0
                  + softplus(f - E r)         + softplus(r - E f)
  rpgan           softplus(f - r)             softplus(r - f)  0

The relativistic objectives (Jolicoeur-Martineau 2019; RpGAN is her RSGAN)
judge each sample against the other kind: their G loss needs D(real), and
RaGAN's E is the mean over the global batch. D-accuracy still thresholds the
raw outputs at 0, which for them has no absolute meaning.

With D = sigmoid(logits): softplus(-r) = -log D(x), softplus(f) =
-log(1 - D(G(z))), so minimax G minimises log(1 - D(G(z))) (saturating),
non-saturating G minimises -log D(G(z)), and the maximum-likelihood cost
-exp(sigma^-1(D(G(z)))) is -exp(f) (it overflows for logits above ~88 in
float32, as the cost itself does). `wasserstein` leaves the Lipschitz
constraint to weight clipping (`gan_jax.transforms`) or a gradient penalty
(`gan_jax.penalties`). `least_squares` is LSGAN with labels a = 0 (fake),
b = 1 (real), c = 1 (G's target) on raw outputs.

f-GAN (`fgan_<div>` for every name in `gan_jax.divergences`): T = g_f(v) and
L_D = -(T(x) - f*(T(G(z)))), L_G = -f*(T(G(z))) (Nowozin et al.'s saturating
"seed form"). f* is finite only on its domain (e.g. t < 0 for `gan`); the
activation g_f maps R into it, and f*(g_f(v)) is evaluated in a closed form
that is finite for every finite v (`Divergence.conjugate_of_activation`).

`threshold` is on the scale of `Objective.statistic(logits)` (the logits
themselves, or T = g_f(v) for f-GANs): use `Objective.is_real(logits)` for the
D-accuracy metric rather than comparing raw logits with `threshold`.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Callable

import jax
import jax.numpy as jnp

from gan_jax import divergences
from gan_jax.registry import Registry

Array = jax.Array


def _identity(logits: Array) -> Array:
  return logits


def _call_with_what_it_takes(fn: Callable[..., Array], **kwargs) -> Array:
  """Calls `fn` with the keyword arguments its signature names."""
  params = inspect.signature(fn).parameters
  return fn(**{k: v for k, v in kwargs.items() if k in params})


@dataclasses.dataclass(frozen=True)
class Objective:
  """A GAN objective as two pure per-example loss functions.

  Each loss names the keyword arguments it needs of `real_logits` [B],
  `fake_logits` [B] and `batch_mean` (`[B] -> []`, the mean over the global
  batch: under data parallelism the mean over every device's examples); the
  step calls them through `d_losses` / `g_losses`, which hand each loss what
  it names. Both players see both logits: D(real) is computed in G's update
  only for a `g_loss` that names `real_logits`.

  Attributes:
    name: registry name.
    d_loss: `(*, real_logits [B], fake_logits [B][, batch_mean]) -> [B]`.
    g_loss: `(*, fake_logits [B][, real_logits [B]][, batch_mean]) -> [B]`.
    threshold: value of `statistic(logits)` above which a sample is classified
      as real (D-accuracy metric): 0 for logit and critic objectives, 1/2 for
      least squares, f'(1) for f-GANs.
    statistic: `[B] -> [B]` map from logits to the scale `threshold` is on:
      identity, or g_f for f-GANs.
  """
  name: str
  d_loss: Callable[..., Array]
  g_loss: Callable[..., Array]
  threshold: float = 0.0
  statistic: Callable[[Array], Array] = _identity

  @property
  def smoothable(self) -> bool:
    """Whether D's loss takes one-sided label smoothing (a real-vs-fake target)."""
    return "label_smoothing" in inspect.signature(self.d_loss).parameters

  @property
  def g_uses_real(self) -> bool:
    """Whether G's loss needs D(real) (a relativistic objective)."""
    return "real_logits" in inspect.signature(self.g_loss).parameters

  def d_losses(self, *, real_logits: Array, fake_logits: Array,
               batch_mean: Callable[[Array], Array] = jnp.mean,
               label_smoothing: float = 0.0) -> Array:
    """D's per-example loss [B]; `label_smoothing` > 0 needs a `smoothable` objective."""
    if label_smoothing and not self.smoothable:
      raise ValueError(f"label smoothing needs a real/fake target; objective {self.name!r} "
                       f"has none. Valid objectives: {', '.join(smoothable_objectives())}")
    return _call_with_what_it_takes(self.d_loss, real_logits=real_logits,
                                    fake_logits=fake_logits, batch_mean=batch_mean,
                                    label_smoothing=label_smoothing)

  def g_losses(self, *, fake_logits: Array, real_logits: Array | None = None,
               batch_mean: Callable[[Array], Array] = jnp.mean) -> Array:
    """G's per-example loss [B] (`real_logits` needed when `g_uses_real`)."""
    if self.g_uses_real and real_logits is None:
      raise ValueError(f"objective {self.name!r}: G's loss needs real_logits")
    return _call_with_what_it_takes(self.g_loss, real_logits=real_logits,
                                    fake_logits=fake_logits, batch_mean=batch_mean)

  def is_real(self, logits: Array) -> Array:
    """Classifies samples as real: `statistic(logits) > threshold`.

    Args:
      logits: raw discriminator outputs, [B].

    Returns:
      Boolean array [B].
    """
    _check_logits(logits=logits)
    return self.statistic(logits) > self.threshold


OBJECTIVES: Registry[Objective] = Registry("objective")


def smoothable_objectives() -> list[str]:
  """The objectives whose D loss takes a label-smoothing target."""
  return [n for n in OBJECTIVES.names() if OBJECTIVES.get(n).smoothable]


def get_objective(name: str) -> Objective:
  """Returns the registered objective.

  Args:
    name: one of `OBJECTIVES.names()` (e.g. "non_saturating", "fgan_kl").

  Raises:
    ValueError: if `name` is unknown; the message lists the valid names.
  """
  return OBJECTIVES.get(name)


def per_example(loss_fn, **logits: Array) -> Array:
  """An elementwise objective function's loss for logits of any shape [B, ...]
  (a patch discriminator's [B, h, w]): `loss_fn` ([B] -> [B], e.g. an
  `Objective`'s `d_loss` or `g_loss`) applied to every logit, then averaged
  over all axes but the first; [B].

  Raises:
    ValueError: the logits differ in shape or have no batch axis.
  """
  shapes = {key: tuple(jnp.shape(value)) for key, value in logits.items()}
  first = next(iter(shapes.values()))
  if len(set(shapes.values())) != 1 or not first or first[0] == 0:
    raise ValueError(f"expected logits of one shape [B, ...] with B >= 1, got {shapes}")
  losses = loss_fn(**{key: jnp.reshape(value, (-1,)) for key, value in logits.items()})
  return jnp.reshape(losses, (first[0], -1)).mean(axis=1)


def _check_logits(**logits: Array) -> None:
  """Checks every argument is [B] and that all share the same B."""
  sizes = set()
  for key, value in logits.items():
    if jnp.ndim(value) != 1:
      raise ValueError(
          f"{key} must have shape [B] (one logit per example), got "
          f"{jnp.shape(value)}; squeeze a trailing [B, 1] axis first")
    sizes.add(jnp.shape(value)[0])
  if len(sizes) > 1:
    shapes = {key: jnp.shape(value) for key, value in logits.items()}
    raise ValueError(
        f"per-example losses pair real and fake examples, so batch sizes must "
        f"match; got {shapes}")


# --- Logistic objectives (D = sigmoid(logits)) --------------------------------


def _logistic_d_loss(*, real_logits: Array, fake_logits: Array,
                     label_smoothing: float = 0.0) -> Array:
  """-log D(x) - log(1 - D(G(z))) = softplus(-r) + softplus(f); [B] -> [B].

  With one-sided label smoothing eps the real target is 1 - eps:
  -(1 - eps) log D(x) - eps log(1 - D(x)) - log(1 - D(G(z))).
  """
  _check_logits(real_logits=real_logits, fake_logits=fake_logits)
  real = jax.nn.softplus(-real_logits)
  if label_smoothing:
    real = (1 - label_smoothing) * real + label_smoothing * jax.nn.softplus(real_logits)
  return real + jax.nn.softplus(fake_logits)


def _minimax_g_loss(*, fake_logits: Array) -> Array:
  """log(1 - D(G(z))) = log sigmoid(-f) = -softplus(f); [B] -> [B]."""
  _check_logits(fake_logits=fake_logits)
  return jax.nn.log_sigmoid(-fake_logits)


def _non_saturating_g_loss(*, fake_logits: Array) -> Array:
  """-log D(G(z)) = softplus(-f); [B] -> [B]."""
  _check_logits(fake_logits=fake_logits)
  return jax.nn.softplus(-fake_logits)


def _max_likelihood_g_loss(*, fake_logits: Array) -> Array:
  """-exp(sigma^-1(D(G(z)))) = -exp(f); [B] -> [B]."""
  _check_logits(fake_logits=fake_logits)
  return -jnp.exp(fake_logits)


# --- Critic objectives (raw outputs) ------------------------------------------


def _wasserstein_d_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """Critic: D(G(z)) - D(x); [B] -> [B]."""
  _check_logits(real_logits=real_logits, fake_logits=fake_logits)
  return fake_logits - real_logits


def _critic_g_loss(*, fake_logits: Array) -> Array:
  """-D(G(z)) (WGAN and hinge generator); [B] -> [B]."""
  _check_logits(fake_logits=fake_logits)
  return -fake_logits


def _least_squares_d_loss(*, real_logits: Array, fake_logits: Array,
                          label_smoothing: float = 0.0) -> Array:
  """LSGAN D: (D(x) - b)^2 / 2 + D(G(z))^2 / 2, b = 1 - label_smoothing; [B] -> [B]."""
  _check_logits(real_logits=real_logits, fake_logits=fake_logits)
  return 0.5 * jnp.square(real_logits - (1.0 - label_smoothing)) + 0.5 * jnp.square(fake_logits)


def _least_squares_g_loss(*, fake_logits: Array) -> Array:
  """LSGAN G: (D(G(z)) - 1)^2 / 2; [B] -> [B]."""
  _check_logits(fake_logits=fake_logits)
  return 0.5 * jnp.square(fake_logits - 1.0)


def _hinge_d_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """relu(1 - D(x)) + relu(1 + D(G(z))); [B] -> [B]."""
  _check_logits(real_logits=real_logits, fake_logits=fake_logits)
  return jax.nn.relu(1.0 - real_logits) + jax.nn.relu(1.0 + fake_logits)


# --- Relativistic objectives (Jolicoeur-Martineau 2019) ------------------------


def _relativistic_average_d_loss(*, real_logits: Array, fake_logits: Array,
                                 batch_mean: Callable[[Array], Array]) -> Array:
  """RaSGAN D: softplus(-(r - mean f)) + softplus(f - mean r); [B] -> [B].

  -log sigmoid(C(x) - E C(G(z))) - log(1 - sigmoid(C(G(z)) - E C(x))).
  """
  _check_logits(real_logits=real_logits, fake_logits=fake_logits)
  return (jax.nn.softplus(-(real_logits - batch_mean(fake_logits)))
          + jax.nn.softplus(fake_logits - batch_mean(real_logits)))


def _relativistic_average_g_loss(*, real_logits: Array, fake_logits: Array,
                                 batch_mean: Callable[[Array], Array]) -> Array:
  """RaSGAN G: the D loss with real and fake swapped; [B] -> [B]."""
  return _relativistic_average_d_loss(real_logits=fake_logits, fake_logits=real_logits,
                                      batch_mean=batch_mean)


def _relativistic_pairing_d_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """RpGAN (RSGAN) D: softplus(-(r - f)), real i paired with fake i; [B] -> [B]."""
  _check_logits(real_logits=real_logits, fake_logits=fake_logits)
  return jax.nn.softplus(fake_logits - real_logits)


def _relativistic_pairing_g_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """RpGAN (RSGAN) G: softplus(-(f - r)); [B] -> [B]."""
  _check_logits(real_logits=real_logits, fake_logits=fake_logits)
  return jax.nn.softplus(real_logits - fake_logits)


for _objective in (
    Objective("minimax", d_loss=_logistic_d_loss, g_loss=_minimax_g_loss),
    Objective("non_saturating", d_loss=_logistic_d_loss,
              g_loss=_non_saturating_g_loss),
    Objective("max_likelihood", d_loss=_logistic_d_loss,
              g_loss=_max_likelihood_g_loss),
    Objective("wasserstein", d_loss=_wasserstein_d_loss,
              g_loss=_critic_g_loss),
    Objective("least_squares", d_loss=_least_squares_d_loss,
              g_loss=_least_squares_g_loss, threshold=0.5),
    Objective("hinge", d_loss=_hinge_d_loss, g_loss=_critic_g_loss),
    Objective("ragan", d_loss=_relativistic_average_d_loss,
              g_loss=_relativistic_average_g_loss),
    Objective("rpgan", d_loss=_relativistic_pairing_d_loss,
              g_loss=_relativistic_pairing_g_loss),
):
  OBJECTIVES.register(_objective.name, _objective)
del _objective


# --- f-GAN -------------------------------------------------------------------


def make_fgan_objective(divergence: divergences.Divergence) -> Objective:
  """Builds the f-GAN objective of `divergence` (seed form of the G loss).

  Args:
    divergence: an entry of `gan_jax.divergences.DIVERGENCES`.

  Returns:
    An `Objective` named `fgan_<divergence.name>` with
    d_loss = -(g_f(r) - f*(g_f(f))), g_loss = -f*(g_f(f)), both [B] -> [B],
    threshold f'(1) on the scale of T = g_f(v).
  """

  def d_loss(*, real_logits: Array, fake_logits: Array) -> Array:
    """-(T(x) - f*(T(G(z)))) with T = g_f(v); [B] -> [B]."""
    _check_logits(real_logits=real_logits, fake_logits=fake_logits)
    return (-divergence.activation(real_logits)
            + divergence.conjugate_of_activation(fake_logits))

  def g_loss(*, fake_logits: Array) -> Array:
    """-f*(T(G(z))) with T = g_f(v); [B] -> [B]."""
    _check_logits(fake_logits=fake_logits)
    return -divergence.conjugate_of_activation(fake_logits)

  return Objective(
      f"fgan_{divergence.name}", d_loss=d_loss, g_loss=g_loss,
      threshold=divergence.threshold, statistic=divergence.activation)


for _name in divergences.DIVERGENCES.names():
  _objective = make_fgan_objective(divergences.get_divergence(_name))
  OBJECTIVES.register(_objective.name, _objective)
del _name, _objective
