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

The absolutely continuous (a.c.) case (`Hparams.data_std` = s > 0): the same
game with p_data = N(0, s^2) and p_theta = N(theta, s^2) (G(z) = theta + s z,
z ~ N(0, 1)) and the same linear D. Every expectation over p_data and p_theta
-- the objective's real and fake terms and the penalty's points -- is taken by
probabilists' Gauss-Hermite quadrature (`Hparams.num_quadrature` nodes), the
machinery of instance noise; with instance noise on top, D's inputs in the
objective are x + eps, which is N(., s^2 + sigma^2). s = 0 is the Dirac case
above (one point, no quadrature). This is the column "a.c. case" of
Mescheder et al.'s Table 1 (`Method.paper_converges_ac`).

Closed form for the unregularized GAN, in the paper's notation: L(theta, psi)
= E_{x ~ p_theta}[f(psi x)] + E_{x ~ p_data}[f(-psi x)], f(t) = -log(1 +
exp(-t)), f'(0) = 1/2, f''(0) = -1/4, and v = (-dL/dtheta, dL/dpsi). With
x = theta + s z on the generator side,

  dL/dtheta = E_{p_theta}[psi f'(psi x)],
  dL/dpsi   = E_{p_theta}[x f'(psi x)] - E_{p_data}[x f'(-psi x)],

and at (0, 0) (psi = 0 kills every term with a factor psi)

  d/dtheta (-dL/dtheta) = -E[psi^2 f''(psi x)]                    = 0,
  d/dpsi   (-dL/dtheta) = -E[f'(psi x) + psi x f''(psi x)]         = -f'(0),
  d/dtheta (dL/dpsi)    = E_{p_theta}[f'(psi x) + psi x f''(psi x)] = f'(0),
  d/dpsi   (dL/dpsi)    = f''(0) (E_{p_theta}[x^2] + E_{p_data}[x^2]) = 2 s^2 f''(0),

so J = [[0, -f'(0)], [f'(0), 2 s^2 f''(0)]] = [[0, -1/2], [1/2, -s^2/2]] with
eigenvalues -s^2/4 +- sqrt(s^4/16 - 1/4): real parts -s^2/4 < 0 for every
s > 0 (complex for s < sqrt(2), real for larger s), i.e. locally convergent,
as the paper says. It is the instance-noise Jacobian with sigma = s: noise on
a Dirac is one way of making the distributions a.c. Our sign convention
negates psi, which leaves the eigenvalues as they are; `non_saturating` has
the same Jacobian at (0, 0).

What smoothing does to the other methods, D being linear (grad_x D = psi at
every x, so where a penalty is evaluated does not matter):
  wgan, wgan_gp    the Wasserstein losses are linear in D, and E[x] is 0
                   under p_data and theta under p_theta, so the field is the
                   Dirac one exactly (the paper's ✗ in both columns).
  dragan           the penalty gamma (|psi| - 1)^2 is the Dirac one too. It is
                   centred at 1, not at 0, as Kodali et al.'s and the
                   project's: near psi = 0 it pushes psi away from 0 with
                   force 2 gamma sign(psi), whereas the a.c. damping
                   -s^2/2 psi vanishes there. At psi = 0 the GAN term of
                   v_psi is -f'(0) theta = -theta/2 for every s, so the kink
                   repels psi while |theta| < 4 gamma and traps it at 0 (G
                   stops) once |theta| >= 4 gamma: the simulations, Dirac and
                   a.c. alike, end at (theta, psi) = (+-4 gamma, 0) from every
                   start but (0, 0) itself, and the a.c. verdict is "no" where
                   the paper has ✓. A linear D cannot have |grad D| = 1
                   without also pushing G (E_{p_theta}[grad_x D] = psi), so
                   the toy has no equilibrium at which DRAGAN's penalty is
                   satisfied; the paper's a.c. ✓ is not reproduced by it. With
                   the penalty centred at 0 it would be `zero_centered`'s
                   gamma psi^2, which converges in both columns.
  the rest         the a.c. term -s^2/2 in J[1, 1] adds to their damping; the
                   Roth weights are expectations of functions of D(x) and go
                   through the quadrature like the objective (1/4 each at
                   (0, 0) still).
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
  `clip`, `num_quadrature` and `data_std` are static.

  Attributes:
    gamma: regularization strength: the penalty weight (gamma/2 for r1, r2 and
      gp_roth, gamma for wgan_gp, dragan, zero_centered) and consensus gamma.
    noise_std: instance-noise standard deviation sigma.
    clip: WGAN weight-clipping bound c (psi in [-c, c]).
    num_quadrature: Gauss-Hermite nodes for the expectations over Gaussians
      (instance noise, the a.c. case).
    data_std: the game's case. 0: the Dirac case, p_data = delta_0 and
      p_theta = delta_theta. s > 0: the absolutely continuous case,
      p_data = N(0, s^2) and p_theta = N(theta, s^2).
  """
  gamma: float = 0.5
  noise_std: float = 1.0
  clip: float = flax.struct.field(pytree_node=False, default=1.0)
  num_quadrature: int = flax.struct.field(pytree_node=False, default=20)
  data_std: float = flax.struct.field(pytree_node=False, default=0.0)

  @property
  def absolutely_continuous(self) -> bool:
    """Whether this is the a.c. case (data_std > 0).

    Raises:
      ValueError: negative data_std.
    """
    if self.data_std < 0:
      raise ValueError(f"data_std must be >= 0, got {self.data_std}")
    return self.data_std > 0


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
    paper_converges_ac: Mescheder et al.'s verdict in the absolutely
      continuous case (Table 1's "a.c. case" column).
    ac_note: why this toy's a.c. verdict can differ from the paper's (shown
      beside a disagreement in the verdict table); empty if nothing to say.
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
  paper_converges_ac: bool = False
  ac_note: str = ""

  def paper_verdict(self, *, absolutely_continuous: bool) -> bool:
    """The paper's verdict for the a.c. or the general (Dirac) case."""
    return self.paper_converges_ac if absolutely_continuous else self.paper_converges


METHODS: Registry[Method] = Registry("Dirac-GAN method")
_DRAGAN_AC_NOTE = (
    "DRAGAN's penalty (|grad D| - 1)^2 is centred at 1: near psi = 0 it pushes "
    "psi away from 0 with force 2 gamma while the a.c. damping -s^2/2 psi "
    "vanishes there, so G stalls at theta = ±4 gamma (psi = 0) in both cases. "
    "A linear D cannot have |grad D| = 1 without moving G, so this toy has no "
    "equilibrium at which the penalty is satisfied; centred at 0 it would be "
    "`zero_centered`, which converges.")
for _method in (
    Method("minimax", "GAN (minimax)", "minimax", paper_converges_ac=True),
    Method("non_saturating", "GAN (non-saturating)", "non_saturating",
           paper_converges_ac=True),
    Method("wgan", "WGAN (clipping)", "wasserstein", weight_clip=True,
           smooth=False),
    Method("wgan_gp", "WGAN-GP", "wasserstein", penalty="wgan_gp",
           smooth=False),
    Method("dragan", "DRAGAN", "non_saturating", penalty="dragan",
           smooth=False, paper_converges_ac=True, ac_note=_DRAGAN_AC_NOTE),
    Method("instance_noise", "Instance noise", "non_saturating",
           instance_noise=True, paper_converges=True, paper_converges_ac=True),
    Method("consensus", "Consensus optimization", "non_saturating",
           consensus=True, paper_converges=True, paper_converges_ac=True),
    Method("gp_roth", "Gradient penalty (Roth)", "non_saturating",
           penalty="roth", paper_converges=True, paper_converges_ac=True),
    Method("zero_centered", "Zero-centred GP", "non_saturating",
           penalty="zero_centered", paper_converges=True,
           paper_converges_ac=True),
    Method("r1", "R1", "non_saturating", penalty="r1", paper_converges=True,
           paper_converges_ac=True),
    Method("r2", "R2", "non_saturating", penalty="r2", paper_converges=True,
           paper_converges_ac=True),
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


def _gauss_hermite(std, num_quadrature: int, dtype) -> tuple[Array, Array]:
  """Offsets std * node_i [K] and probability weights [K] for N(0, std^2).

  Probabilists' Gauss-Hermite nodes integrate E[h(eps)], eps ~ N(0, std^2),
  exactly for polynomials h of degree < 2K.
  """
  nodes, weights = np.polynomial.hermite_e.hermegauss(num_quadrature)
  return jnp.asarray(std * nodes, dtype), jnp.asarray(weights / weights.sum(), dtype)


def _sample_offsets(hparams: Hparams, dtype) -> tuple[Array, Array]:
  """Offsets [K] and weights [K] of the game's samples: x_real = 0 + offset,
  x_fake = theta + offset. Dirac case: one offset 0 with weight 1; a.c. case:
  the quadrature of N(0, data_std^2)."""
  if not hparams.absolutely_continuous:
    return jnp.zeros((1,), dtype), jnp.ones((1,), dtype)
  return _gauss_hermite(hparams.data_std, hparams.num_quadrature, dtype)


def _noise(method: Method, hparams: Hparams, dtype) -> tuple[Array, Array]:
  """Offsets [K] and probability weights [K] for D's inputs in the objective.

  The samples of the game (`_sample_offsets`) with, for instance noise,
  independent eps ~ N(0, sigma^2) added: the offset is N(0, sigma^2) in the
  Dirac case and N(0, s^2 + sigma^2) in the a.c. case. The objectives are
  sums of a real term and a fake term, so pairing real node i with fake node i
  and weighting by w_i gives E[real term] + E[fake term] with independent
  offsets on both.
  """
  if not method.instance_noise:
    return _sample_offsets(hparams, dtype)
  if hparams.absolutely_continuous:
    std = jnp.sqrt(hparams.data_std**2 + jnp.square(hparams.noise_std))
  else:
    std = hparams.noise_std
  return _gauss_hermite(std, hparams.num_quadrature, dtype)


def _penalty_term(method: Method, hparams: Hparams, theta: Array,
                  psi: Array) -> Array:
  """The weighted penalty in D's loss at (theta, psi), a scalar: its
  expectation over the game's real and fake samples (`_sample_offsets`)."""
  if method.penalty == "none":
    return jnp.zeros((), theta.dtype)
  penalty_fn = penalties.get_penalty(method.penalty)
  coefficient = penalties.penalty_coefficient(method.penalty, hparams.gamma)
  offsets, weights = _sample_offsets(hparams, theta.dtype)
  x_real = offsets[:, None]
  x_fake = (theta + offsets)[:, None]
  value = penalty_fn(d_fn=dirac_discriminator(psi), x_real=x_real,
                     x_fake=x_fake, key=jax.random.PRNGKey(_PENALTY_KEY_SEED))
  return coefficient * jnp.sum(weights * value)


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
