"""The WGAN paper's parallel lines (Arjovsky et al. 2017, Example 1), and the
earth mover's distance on the line.

P0 is uniform on the segment x = 0, 0 <= y <= 1, and P_theta the same segment
moved to x = theta (samples (0, z) and (theta, z), z ~ U[0, 1]). For theta != 0
the two have disjoint supports:
  W1 = |theta|,  JS = log 2,  KL = reverse KL = infinity,
and all four are 0 at theta = 0. Only W1 is continuous in theta, so only a
critic that estimates it can tell G which way to move its line.

`trained_gradients` measures that: at each theta it trains a discriminator /
critic with the training code's own objective and penalty (the `losses` and
`penalties` registries) on samples of P0 and P_theta, all from the same
initial parameters, then takes the derivative of G's loss in theta at that
trained D. `wasserstein_1d` is the earth mover's distance between two piles
of earth on the line, the lecture's shovelling example.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import losses
from gan_jax import penalties
from gan_jax.models.mlp import MLPDiscriminator


def divergences(theta: float) -> dict[str, float]:
  """{'w1', 'js', 'kl', 'reverse_kl'} between P0 and P_theta (natural log)."""
  if theta == 0:
    return dict(w1=0.0, js=0.0, kl=0.0, reverse_kl=0.0)
  return dict(w1=abs(float(theta)), js=math.log(2.0), kl=math.inf, reverse_kl=math.inf)


def wasserstein_1d(p: np.ndarray, q: np.ndarray, positions: np.ndarray | None = None) -> float:
  """W1 between masses `p` and `q` [n] at sorted `positions` [n] (default
  0, 1, ..., n-1): the integral of |CDF_p - CDF_q|, the least earth x distance
  that turns one pile profile into the other.

  Raises:
    ValueError: shapes differ, a mass is negative, or the totals differ.
  """
  p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
  x = np.arange(len(p), dtype=np.float64) if positions is None else np.asarray(positions,
                                                                               np.float64)
  if p.shape != q.shape or p.shape != x.shape or p.ndim != 1:
    raise ValueError(f"p, q and positions need one shape [n], got {p.shape}, {q.shape}, "
                     f"{x.shape}")
  if (p < 0).any() or (q < 0).any():
    raise ValueError("masses must be >= 0")
  if not np.isclose(p.sum(), q.sum()):
    raise ValueError(f"the totals differ ({p.sum():g} vs {q.sum():g}): W1 moves earth, it "
                     "does not make or destroy it")
  if (np.diff(x) < 0).any():
    raise ValueError("positions must be sorted")
  return float(np.sum(np.abs(np.cumsum(p - q))[:-1] * np.diff(x)))


def sample(theta: jax.Array, key: jax.Array, num: int) -> tuple[jax.Array, jax.Array]:
  """(real [num, 2] from P0, fake [num, 2] from P_theta), each with its own z."""
  k_real, k_fake = jax.random.split(key)
  z_real, z_fake = jax.random.uniform(k_real, (num,)), jax.random.uniform(k_fake, (num,))
  real = jnp.stack([jnp.zeros_like(z_real), z_real], axis=-1)
  fake = jnp.stack([jnp.full_like(z_fake, theta), z_fake], axis=-1)
  return real, fake


@dataclasses.dataclass(frozen=True)
class Critic:
  """One discriminator to train at every theta: the objective, the penalty
  (`none` or a registry name, weight in the penalty's own convention), Adam."""
  label: str
  objective: str
  penalty: str = "none"
  penalty_weight: float = 0.0
  learning_rate: float = 1e-3
  b1: float = 0.5


CRITICS = (
    Critic("minimax (JS)", "minimax"),
    Critic("non-saturating", "non_saturating"),
    Critic("WGAN-GP critic", "wasserstein", "wgan_gp", 10.0, 1e-4, 0.0),
)


def trained_gradients(critic: Critic, thetas: np.ndarray, *, steps: int, batch_size: int = 256,
                      hidden: tuple[int, ...] = (64, 64), seed: int = 0) -> np.ndarray:
  """dL_G/dtheta [T] at the D trained for `steps` Adam updates at each theta
  of `thetas` [T] (every theta from the same initial D; L_G the objective's G
  loss, mean over 4096 fresh fakes; vmapped over theta)."""
  objective = losses.get_objective(critic.objective)
  penalty_fn = penalties.get_penalty(critic.penalty)
  coefficient = (penalties.penalty_coefficient(critic.penalty, critic.penalty_weight)
                 if critic.penalty != "none" else 0.0)
  d = MLPDiscriminator(hidden=hidden, dropout_rate=0.0)
  key = jax.random.PRNGKey(seed)
  params = d.init(jax.random.fold_in(key, 0), jnp.zeros((1, 2)), train=False)["params"]
  tx = optax.adam(critic.learning_rate, b1=critic.b1)

  def d_fn(p):
    return lambda x: d.apply({"params": p}, x, train=False)

  def d_loss(p, theta, k):
    k_data, k_pen = jax.random.split(k)
    real, fake = sample(theta, k_data, batch_size)
    loss = objective.d_losses(real_logits=d_fn(p)(real), fake_logits=d_fn(p)(fake)).mean()
    if coefficient:
      loss += coefficient * penalty_fn(d_fn=d_fn(p), x_real=real, x_fake=fake, key=k_pen).mean()
    return loss

  def g_loss(theta, p):
    real, fake = sample(theta, jax.random.fold_in(key, 2), 4096)
    return objective.g_losses(fake_logits=d_fn(p)(fake), real_logits=d_fn(p)(real)).mean()

  def train_then_grad(theta):
    def step(carry, i):
      p, opt_state = carry
      grads = jax.grad(d_loss)(p, theta, jax.random.fold_in(jax.random.fold_in(key, 1), i))
      updates, opt_state = tx.update(grads, opt_state, p)
      return (optax.apply_updates(p, updates), opt_state), None
    (p, _), _ = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps))
    return jax.grad(g_loss)(theta, p)

  return np.asarray(jax.jit(jax.vmap(train_then_grad))(jnp.asarray(thetas, jnp.float32)))


def save_figure(path: str, thetas: np.ndarray, gradients: dict[str, np.ndarray], *,
                steps: int) -> None:
  """Two panels: the four divergences against theta, and |dL_G/dtheta| at
  each trained D (`gradients`: label -> [T])."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fine = np.linspace(thetas.min(), thetas.max(), 401)
  fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
  fine = fine[fine != 0]  # theta = 0 is the one point where all four are 0: a dot
  values = {k: np.array([divergences(t)[k] for t in fine]) for k in ("w1", "js")}
  top.plot(fine, values["w1"], label="W1 = |theta|")
  top.plot(np.where(fine < 0, fine, np.nan), values["js"], color="C1", label="JS = log 2")
  top.plot(np.where(fine > 0, fine, np.nan), values["js"], color="C1")
  cap = 1.5 * max(values["w1"].max(), math.log(2.0))
  top.plot(fine, np.full_like(fine, cap), ":", color="C2",
           label="KL, reverse KL = inf (drawn at the top)")
  top.scatter([0.0], [0.0], color="k", zorder=3, label="all four are 0 at theta = 0")
  top.set_ylim(-0.05, cap * 1.05)
  top.set_ylabel("divergence")
  top.set_title("P0 on x = 0, P_theta on x = theta (Arjovsky et al. 2017, Example 1)")
  top.legend(fontsize=8)
  for label, grad in gradients.items():
    bottom.plot(thetas, np.abs(grad), "o-", ms=3, label=label)
  bottom.set_yscale("log")
  bottom.set_xlabel("theta")
  bottom.set_ylabel("|dL_G / dtheta| at the trained D")
  bottom.set_title(f"the gradient G gets, D trained {steps} Adam steps at each theta")
  bottom.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
