"""The Dirac-GAN of Mescheder, Geiger & Nowozin (2018), built from our losses.

The game: p_data = delta_0, the generator is a single number theta (G(z) =
theta for every z) and the discriminator is linear, D_psi(x) = psi * x, with
D's output read as a logit. The point of this module is that the gradient
vector field of every training method is obtained from the *project's own*
objectives (`gan_jax.losses.get_objective`) and penalties
(`gan_jax.penalties.get_penalty`) -- the functions training uses -- applied
to the 1-D game with `jax.grad`, so a sign or weight error in a loss or a
penalty shows up as a wrong eigenvalue here. Closed forms only live in tests.

Convention: a point is params = (theta, psi), and the vector field is the
direction both players move in,

  v(theta, psi) = (-d/dtheta L_G(theta, psi), -d/dpsi L_D(theta, psi)),

where L_D = mean d_loss(real_logits = D(0), fake_logits = D(theta)) plus the
weighted penalty and L_G = mean g_loss(fake_logits = D(theta)). Gradient
descent with learning rate h is params <- params + h v(params). With the
logistic objectives, v = (psi sigma(psi theta), -theta sigma(psi theta)) for
`minimax` near 0; the Jacobian at the equilibrium (0, 0) is
[[0, f'(0)], [-f'(0), 0]] with f'(0) = 1/2, i.e. Mescheder's field with psi
negated (their D outputs -logits). Eigenvalues do not depend on that sign.

Methods (`METHODS`, unknown names raise `ValueError`):
  minimax, non_saturating  unregularized GAN.
  wgan             `wasserstein` objective, psi clipped to [-clip, clip] after
                   every discriminator update (`gan_jax.transforms.clip_weights`).
  wgan_gp          `wasserstein` + gamma * `wgan_gp` penalty (||grad D|| - 1)^2.
  dragan           `non_saturating` + gamma * `dragan` penalty.
  instance_noise   `non_saturating` with D's inputs x + eps, eps ~ N(0, sigma^2),
                   the expectation taken by Gauss-Hermite quadrature
                   (`Hparams.num_quadrature` nodes) through the objective.
  consensus        `non_saturating`, then w = v - gamma grad(1/2 ||v||^2)
                   (Mescheder et al. 2017). Written with the players'
                   gradients g = -v instead, each player descends along
                   g + gamma grad(1/2 ||g||^2); the two are the same update.
  gp_roth          `non_saturating` + gamma/2 * Roth et al.'s (2017) weighted
                   zero-centred penalty (1 - D(x))^2 ||grad psi(x)||^2 on data
                   plus D(G(z))^2 ||grad psi(x)||^2 on samples (D = sigmoid of
                   the logit): the `roth` penalty training uses. Mescheder
                   et al. analyse it in the Dirac case as a plain
                   gamma/2 ||grad D||^2 at the data / generated points; with the
                   weights (1/4 each at the equilibrium) the eigenvalues are
                   -gamma/4 +- sqrt(gamma^2/16 - f'(0)^2).
  zero_centered    `non_saturating` + gamma * the project's `zero_centered`
                   penalty ||grad D||^2 on interpolates (the paper's
                   simplification of Roth's penalty: same eigenvalues as R1).
  r1, r2           `non_saturating` + gamma/2 * `r1` / `r2` (the step's weight
                   convention, `gan_jax.penalties.penalty_coefficient`).

The regularized methods use `non_saturating` (as GAN_stability and the 2-D
follow-up do); near the equilibrium it has the same Jacobian as `minimax`.
Random penalty points (interpolates, DRAGAN's perturbations) do not matter
here: D is linear, so grad_x D = psi everywhere; a fixed key is passed.
WGAN-GP and DRAGAN penalise (|psi| - 1)^2, which has a kink at psi = 0 (the
equilibrium); `optax.safe_norm` gives |.| the derivative 0 there, so their
autodiff Jacobian is the unregularized one. They and clipped WGAN are marked
`smooth=False`: their verdict comes from simulation.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses
from gan_jax import penalties
from gan_jax import transforms
from gan_jax.registry import Registry

Array = jax.Array
Field = Callable[[Array], Array]
EQUILIBRIUM = (0.0, 0.0)
MODES = ("simultaneous", "alternating")
_PENALTY_KEY_SEED = 0


@flax.struct.dataclass
class Hparams:
  """Hyperparameters shared by the Dirac-GAN methods (a pytree).

  `gamma` and `noise_std` are leaves, so jitted fields, Jacobians and
  simulations are compiled once per method and reused for every value;
  `clip` and `num_quadrature` are static.

  Attributes:
    gamma: regularization strength: the penalty weight (gamma/2 for r1, r2 and
      gp_roth, gamma for wgan_gp, dragan, zero_centered) and consensus gamma.
    noise_std: instance-noise standard deviation sigma.
    clip: WGAN weight-clipping bound c (psi in [-c, c]).
    num_quadrature: Gauss-Hermite nodes for the instance-noise expectation.
  """
  gamma: float = 0.5
  noise_std: float = 1.0
  clip: float = flax.struct.field(pytree_node=False, default=1.0)
  num_quadrature: int = flax.struct.field(pytree_node=False, default=20)


@dataclasses.dataclass(frozen=True)
class Method:
  """A training method of the Dirac-GAN.

  Attributes:
    name: registry name.
    title: label for plots and tables.
    objective: a `gan_jax.losses` objective name.
    penalty: a `gan_jax.penalties` name (the registry's, as training uses them).
    instance_noise: take D's losses in expectation over Gaussian input noise.
    consensus: apply consensus optimization to the field.
    weight_clip: project psi onto [-clip, clip] after each D update.
    smooth: the field is differentiable at the equilibrium, so the eigenvalue
      verdict applies; False: the verdict comes from simulation.
    paper_converges: Mescheder et al.'s verdict (general, Dirac case).
  """
  name: str
  title: str
  objective: str
  penalty: str = "none"
  instance_noise: bool = False
  consensus: bool = False
  weight_clip: bool = False
  smooth: bool = True
  paper_converges: bool = False


METHODS: Registry[Method] = Registry("Dirac-GAN method")
for _method in (
    Method("minimax", "GAN (minimax)", "minimax"),
    Method("non_saturating", "GAN (non-saturating)", "non_saturating"),
    Method("wgan", "WGAN (clipping)", "wasserstein", weight_clip=True,
           smooth=False),
    Method("wgan_gp", "WGAN-GP", "wasserstein", penalty="wgan_gp",
           smooth=False),
    Method("dragan", "DRAGAN", "non_saturating", penalty="dragan",
           smooth=False),
    Method("instance_noise", "Instance noise", "non_saturating",
           instance_noise=True, paper_converges=True),
    Method("consensus", "Consensus optimization", "non_saturating",
           consensus=True, paper_converges=True),
    Method("gp_roth", "Gradient penalty (Roth)", "non_saturating",
           penalty="roth", paper_converges=True),
    Method("zero_centered", "Zero-centred GP", "non_saturating",
           penalty="zero_centered", paper_converges=True),
    Method("r1", "R1", "non_saturating", penalty="r1", paper_converges=True),
    Method("r2", "R2", "non_saturating", penalty="r2", paper_converges=True),
):
  METHODS.register(_method.name, _method)
del _method


def get_method(method: str | Method) -> Method:
  """Returns `method` itself or the registered method of that name.

  Raises:
    ValueError: unknown name; the message lists the valid names.
  """
  return method if isinstance(method, Method) else METHODS.get(method)


# --- The 1-D game through the project's objectives and penalties --------------


def dirac_discriminator(psi: Array) -> Callable[[Array], Array]:
  """D_psi as a `d_fn` for `gan_jax.penalties`: x [B, 1] -> logits psi x, [B]."""
  def d_fn(x: Array) -> Array:
    return psi * x[:, 0]
  return d_fn


def _noise(method: Method, hparams: Hparams, dtype) -> tuple[Array, Array]:
  """Noise values [K] and probability weights [K] for D's inputs.

  Probabilists' Gauss-Hermite nodes integrate E[h(eps)], eps ~ N(0, sigma^2),
  exactly for polynomials h of degree < 2K. The objectives are sums of a real
  term and a fake term, so pairing real node i with fake node i and weighting
  by w_i gives E[real term] + E[fake term] with independent noise on both.
  Without instance noise: one node 0 with weight 1.
  """
  if not method.instance_noise:
    return jnp.zeros((1,), dtype), jnp.ones((1,), dtype)
  nodes, weights = np.polynomial.hermite_e.hermegauss(hparams.num_quadrature)
  return (jnp.asarray(hparams.noise_std * nodes, dtype),
          jnp.asarray(weights / weights.sum(), dtype))


def _penalty_term(method: Method, hparams: Hparams, theta: Array,
                  psi: Array) -> Array:
  """The weighted penalty in D's loss at (theta, psi), a scalar."""
  if method.penalty == "none":
    return jnp.zeros((), theta.dtype)
  penalty_fn = penalties.get_penalty(method.penalty)
  coefficient = penalties.penalty_coefficient(method.penalty, hparams.gamma)
  x_real = jnp.zeros((1, 1), theta.dtype)
  x_fake = jnp.reshape(theta, (1, 1))
  value = penalty_fn(d_fn=dirac_discriminator(psi), x_real=x_real,
                     x_fake=x_fake, key=jax.random.PRNGKey(_PENALTY_KEY_SEED))
  return coefficient * jnp.mean(value)


def d_loss(method: str | Method, theta: Array, psi: Array, *,
           hparams: Hparams = Hparams()) -> Array:
  """The discriminator's loss L_D(theta, psi) (what D minimises), a scalar.

  Args:
    method: a `METHODS` name or a `Method`.
    theta: generator parameter, [].
    psi: discriminator parameter, [].
    hparams: regularization strengths.
  """
  method = get_method(method)
  objective = losses.get_objective(method.objective)
  eps, weights = _noise(method, hparams, jnp.result_type(theta))
  d_fn = dirac_discriminator(psi)
  per_node = objective.d_loss(real_logits=d_fn((0.0 + eps)[:, None]),
                              fake_logits=d_fn((theta + eps)[:, None]))
  return jnp.sum(weights * per_node) + _penalty_term(method, hparams, theta, psi)


def g_loss(method: str | Method, theta: Array, psi: Array, *,
           hparams: Hparams = Hparams()) -> Array:
  """The generator's loss L_G(theta, psi) (what G minimises), a scalar."""
  method = get_method(method)
  objective = losses.get_objective(method.objective)
  eps, weights = _noise(method, hparams, jnp.result_type(theta))
  fake_logits = dirac_discriminator(psi)((theta + eps)[:, None])
  return jnp.sum(weights * objective.g_loss(fake_logits=fake_logits))


def make_vector_field(method: str | Method, *,
                      hparams: Hparams = Hparams()) -> Field:
  """The method's update direction as a pure function params [2] -> [2].

  Args:
    method: a `METHODS` name or a `Method`.
    hparams: regularization strengths.

  Returns:
    `field(params)` with params = (theta, psi), [2], returning
    (-dL_G/dtheta, -dL_D/dpsi), [2] (consensus-corrected for `consensus`).
  """
  method = get_method(method)

  def gradient_play(params: Array) -> Array:
    theta, psi = params[0], params[1]
    g_grad = jax.grad(lambda t: g_loss(method, t, psi, hparams=hparams))(theta)
    d_grad = jax.grad(lambda p: d_loss(method, theta, p, hparams=hparams))(psi)
    return -jnp.stack([g_grad, d_grad])

  if not method.consensus:
    return gradient_play

  def consensus(params: Array) -> Array:
    half_squared_norm = lambda p: 0.5 * jnp.sum(jnp.square(gradient_play(p)))
    return gradient_play(params) - hparams.gamma * jax.grad(half_squared_norm)(params)

  return consensus


@functools.lru_cache(maxsize=None)
def _batched_field(method: Method):
  def field(params: Array, hparams: Hparams) -> Array:
    return make_vector_field(method, hparams=hparams)(params)
  return jax.jit(jax.vmap(field, in_axes=(0, None)))


@functools.lru_cache(maxsize=None)
def _jitted_jacobian(method: Method):
  def jac(point: Array, hparams: Hparams) -> Array:
    return jax.jacfwd(make_vector_field(method, hparams=hparams))(point)
  return jax.jit(jac)


def vector_field(method: str | Method, params: Array, *,
                 hparams: Hparams = Hparams()) -> Array:
  """Evaluates the field at one or many points.

  Args:
    method: a `METHODS` name or a `Method`.
    params: (theta, psi) points, [..., 2].
    hparams: regularization strengths.

  Returns:
    Update directions, [..., 2].
  """
  params = jnp.asarray(params)
  _check_points(params)
  flat = params.reshape(-1, 2)
  return _batched_field(get_method(method))(flat, hparams).reshape(params.shape)


def jacobian(method: str | Method, point: Sequence[float] = EQUILIBRIUM, *,
             hparams: Hparams = Hparams()) -> np.ndarray:
  """The field's Jacobian by `jax.jacfwd`, in float64; [2, 2] numpy."""
  with jax.enable_x64(True):
    return np.asarray(_jitted_jacobian(get_method(method))(
        jnp.asarray(point, jnp.float64), hparams))


def jacobian_eigenvalues(method: str | Method,
                         point: Sequence[float] = EQUILIBRIUM, *,
                         hparams: Hparams = Hparams()) -> np.ndarray:
  """Eigenvalues of the field's Jacobian at `point` (default the equilibrium).

  Args:
    method: a `METHODS` name or a `Method`.
    point: (theta, psi).
    hparams: regularization strengths.

  Returns:
    complex128 [2], sorted by real then imaginary part. Continuous-time
    gradient flow is locally convergent when all real parts are < 0.
  """
  return np.sort_complex(np.linalg.eigvals(jacobian(method, point, hparams=hparams)))


# --- Discrete updates and trajectories -----------------------------------------


def make_update(method: str | Method, *, lr, mode: str = "simultaneous",
                hparams: Hparams = Hparams()) -> Field:
  """One step of gradient descent on the game, params [2] -> [2].

  Args:
    method: a `METHODS` name or a `Method`.
    lr: learning rate h (a float or a traced scalar).
    mode: "simultaneous" (both players step from the same point) or
      "alternating" (D steps first, then G from the new psi, as in
      `gan_jax.steps`).
    hparams: regularization strengths.

  Raises:
    ValueError: unknown mode.
  """
  check_mode(mode)
  method = get_method(method)
  field = make_vector_field(method, hparams=hparams)

  def project(psi: Array) -> Array:
    return transforms.clip_weights(psi, hparams.clip) if method.weight_clip else psi

  def update(params: Array) -> Array:
    if mode == "simultaneous":
      new = params + lr * field(params)
      return jnp.stack([new[0], project(new[1])])
    psi = project(params[1] + lr * field(params)[1])
    theta = params[0] + lr * field(jnp.stack([params[0], psi]))[0]
    return jnp.stack([theta, psi])

  return update


def update_spectral_radius(method: str | Method, *, lr: float,
                           mode: str = "simultaneous",
                           point: Sequence[float] = EQUILIBRIUM,
                           hparams: Hparams = Hparams()) -> float:
  """Spectral radius of the update operator's Jacobian at `point` (float64).

  Discrete gradient descent is locally convergent when it is < 1. For
  simultaneous steps the operator is I + h J; for alternating steps it is the
  product of the two players' steps, differentiated as one map.
  """
  check_mode(mode)
  with jax.enable_x64(True):
    operator = np.asarray(_jitted_operator(get_method(method), mode)(
        jnp.asarray(point, jnp.float64), lr, hparams))
  return float(np.max(np.abs(np.linalg.eigvals(operator))))


@functools.lru_cache(maxsize=None)
def _jitted_operator(method: Method, mode: str):
  def operator(point: Array, lr: Array, hparams: Hparams) -> Array:
    return jax.jacfwd(make_update(method, lr=lr, mode=mode, hparams=hparams))(point)
  return jax.jit(operator)


@functools.lru_cache(maxsize=None)
def _simulator(method: Method, num_steps: int, mode: str):
  def trajectory(init: Array, lr: Array, hparams: Hparams) -> Array:
    update = make_update(method, lr=lr, mode=mode, hparams=hparams)
    def body(params, _):
      new = update(params)
      return new, new
    _, path = jax.lax.scan(body, init, None, length=num_steps)
    return jnp.concatenate([init[None], path], axis=0)
  return jax.jit(jax.vmap(trajectory, in_axes=(0, None, None)))


def simulate(method: str | Method, init: Array, steps: int, lr: float, *,
             mode: str = "simultaneous", hparams: Hparams = Hparams()) -> Array:
  """Trajectories of discrete gradient descent, vmapped over initial points.

  Args:
    method: a `METHODS` name or a `Method`.
    init: initial (theta, psi), [2] or [N, 2] (e.g. from `initial_grid`).
    steps: number of updates.
    lr: learning rate.
    mode: "simultaneous" or "alternating" (see `make_update`).
    hparams: regularization strengths.

  Returns:
    [steps + 1, 2] for a single init, [N, steps + 1, 2] for a batch; index 0
    is the initial point. The dtype is init's (float64 under `enable_x64`).

  Raises:
    ValueError: unknown method or mode, negative steps or a bad init shape.
  """
  check_mode(mode)
  if steps < 0:
    raise ValueError(f"steps must be >= 0, got {steps}")
  init = jnp.asarray(init, dtype=jnp.result_type(float))
  _check_points(init)
  if init.ndim > 2:
    raise ValueError(f"init must be [2] or [N, 2], got {init.shape}")
  batch = init.reshape(-1, 2)
  paths = _simulator(get_method(method), int(steps), mode)(
      batch, jnp.asarray(lr, batch.dtype), hparams)
  return paths[0] if init.ndim == 1 else paths


def initial_grid(*, low: float, high: float, num: int) -> np.ndarray:
  """A num x num grid of (theta, psi) starting points, [num * num, 2]."""
  if num < 1:
    raise ValueError(f"num must be >= 1, got {num}")
  axis = np.linspace(low, high, num)
  theta, psi = np.meshgrid(axis, axis, indexing="ij")
  return np.stack([theta.ravel(), psi.ravel()], axis=1)


def _check_points(params: Array) -> None:
  if params.ndim < 1 or params.shape[-1] != 2:
    raise ValueError(f"points must have shape [..., 2] (theta, psi), got {params.shape}")


def check_mode(mode: str) -> None:
  """Raises `ValueError` unless mode is one of `MODES`."""
  if mode not in MODES:
    raise ValueError(f"Unknown mode {mode!r}; valid choices: {', '.join(MODES)}")
