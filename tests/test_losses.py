"""Tests for gan_jax.losses: closed forms, optimal D, f-GAN bounds.

Hand values are computed with `math` from the formulas in REFERENCES.md (in
probability form, D = sigmoid(logit), where the code uses softplus forms), so
an error in either the code's algebra or its sign conventions shows up.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax import enable_x64

from gan_jax import divergences
from gan_jax import losses

REAL = [-3.0, -0.5, 0.0, 0.7, 4.0]
FAKE = [2.0, -1.5, 0.3, -4.0, 0.0]
DIVERGENCE_NAMES = ["gan", "js", "kl", "reverse_kl", "pearson",
                    "squared_hellinger"]


def sigmoid(x):
  return 1.0 / (1.0 + math.exp(-x))


def _hand_d_loss(name, r, f):
  if name in ("minimax", "non_saturating", "max_likelihood"):
    return -math.log(sigmoid(r)) - math.log(1.0 - sigmoid(f))
  if name == "wasserstein":
    return f - r
  if name == "least_squares":
    return 0.5 * (r - 1.0) ** 2 + 0.5 * (f - 0.0) ** 2
  if name == "hinge":
    return max(0.0, 1.0 - r) + max(0.0, 1.0 + f)
  raise AssertionError(name)


def _hand_g_loss(name, f):
  d = sigmoid(f)
  return {
      "minimax": math.log(1.0 - d),
      "non_saturating": -math.log(d),
      "max_likelihood": -math.exp(math.log(d / (1.0 - d))),
      "wasserstein": -f,
      "least_squares": 0.5 * (f - 1.0) ** 2,
      "hinge": -f,
  }[name]


# T = g_f(v) and f*(T) from the REFERENCES.md table, evaluated naively.
def _hand_t(div, v):
  return {
      "gan": -math.log(1 + math.exp(-v)),
      "js": math.log(2) - math.log(1 + math.exp(-v)),
      "kl": v,
      "reverse_kl": -math.exp(-v),
      "pearson": v,
      "squared_hellinger": 1 - math.exp(-v),
  }[div]


def _hand_conjugate(div, t):
  return {
      "gan": lambda: -math.log(1 - math.exp(t)),
      "js": lambda: -math.log(2 - math.exp(t)),
      "kl": lambda: math.exp(t - 1),
      "reverse_kl": lambda: -1 - math.log(-t),
      "pearson": lambda: t * t / 4 + t,
      "squared_hellinger": lambda: t / (1 - t),
  }[div]()


STANDARD = ["minimax", "non_saturating", "max_likelihood", "wasserstein",
            "least_squares", "hinge"]
RELATIVISTIC = ["ragan", "rpgan"]


def test_registry_has_every_objective():
  # A superset check: a researcher's own objective may be registered too.
  expected = set(STANDARD) | set(RELATIVISTIC) | {f"fgan_{d}" for d in DIVERGENCE_NAMES}
  assert expected <= set(losses.OBJECTIVES.names())


def _hand_relativistic(name, reals, fakes):
  """(D losses, G losses) per example from the probability form."""
  mr, mf = sum(reals) / len(reals), sum(fakes) / len(fakes)
  if name == "ragan":  # -log sigma(C(x) - E C(G(z))) - log(1 - sigma(C(G(z)) - E C(x)))
    d = [-math.log(sigmoid(r - mf)) - math.log(1 - sigmoid(f - mr)) for r, f in zip(reals, fakes)]
    g = [-math.log(sigmoid(f - mr)) - math.log(1 - sigmoid(r - mf)) for r, f in zip(reals, fakes)]
  else:  # rpgan: -log sigma(C(x_i) - C(G(z_i))) for D, the pair swapped for G
    d = [-math.log(sigmoid(r - f)) for r, f in zip(reals, fakes)]
    g = [-math.log(sigmoid(f - r)) for r, f in zip(reals, fakes)]
  return d, g


@pytest.mark.parametrize("name", RELATIVISTIC)
def test_relativistic_objectives_match_hand_values(name):
  obj = losses.get_objective(name)
  real, fake = jnp.asarray(REAL, jnp.float32), jnp.asarray(FAKE, jnp.float32)
  assert obj.g_uses_real
  expected_d, expected_g = _hand_relativistic(name, REAL, FAKE)
  np.testing.assert_allclose(obj.d_losses(real_logits=real, fake_logits=fake), expected_d,
                             rtol=1e-5)
  np.testing.assert_allclose(obj.g_losses(real_logits=real, fake_logits=fake), expected_g,
                             rtol=1e-5)
  with pytest.raises(ValueError, match="needs real_logits"):
    obj.g_losses(fake_logits=fake)


def test_relativistic_average_takes_its_means_from_batch_mean():
  """Under data parallelism the step passes the global mean; with a mean of 0
  RaGAN's D loss is the standard GAN's."""
  obj = losses.get_objective("ragan")
  real, fake = jnp.asarray(REAL, jnp.float32), jnp.asarray(FAKE, jnp.float32)
  zero_mean = lambda x: jnp.zeros(())
  np.testing.assert_allclose(
      obj.d_losses(real_logits=real, fake_logits=fake, batch_mean=zero_mean),
      [_hand_d_loss("non_saturating", r, f) for r, f in zip(REAL, FAKE)], rtol=1e-5)


def test_only_relativistic_generators_ask_for_real_logits():
  users = {n for n in losses.OBJECTIVES.names() if losses.get_objective(n).g_uses_real}
  assert set(RELATIVISTIC) <= users
  assert not users & (set(STANDARD) | {f"fgan_{d}" for d in DIVERGENCE_NAMES})


def test_unknown_objective_raises_listing_names():
  with pytest.raises(ValueError) as info:
    losses.get_objective("nonsaturating")
  for name in ("non_saturating", "wasserstein", "fgan_kl"):
    assert name in str(info.value)


@pytest.mark.parametrize("name", STANDARD)
def test_standard_objectives_match_hand_values(name):
  obj = losses.get_objective(name)
  real = jnp.asarray(REAL, jnp.float32)
  fake = jnp.asarray(FAKE, jnp.float32)
  d = obj.d_loss(real_logits=real, fake_logits=fake)
  g = obj.g_loss(fake_logits=fake)
  assert d.shape == (5,) and g.shape == (5,)
  np.testing.assert_allclose(
      d, [_hand_d_loss(name, r, f) for r, f in zip(REAL, FAKE)], rtol=1e-5)
  np.testing.assert_allclose(
      g, [_hand_g_loss(name, f) for f in FAKE], rtol=1e-5)


@pytest.mark.parametrize("div", DIVERGENCE_NAMES)
def test_fgan_objectives_match_hand_values(div):
  obj = losses.get_objective(f"fgan_{div}")
  real = jnp.asarray(REAL, jnp.float32)
  fake = jnp.asarray(FAKE, jnp.float32)
  d = obj.d_loss(real_logits=real, fake_logits=fake)
  g = obj.g_loss(fake_logits=fake)
  expected_d = [-(_hand_t(div, r) - _hand_conjugate(div, _hand_t(div, f)))
                for r, f in zip(REAL, FAKE)]
  expected_g = [-_hand_conjugate(div, _hand_t(div, f)) for f in FAKE]
  np.testing.assert_allclose(d, expected_d, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g, expected_g, rtol=1e-5, atol=1e-6)
  assert obj.threshold == divergences.get_divergence(div).threshold


def test_thresholds_and_is_real():
  logits = jnp.asarray([-1.0, -0.01, 0.01, 0.49, 0.51, 1.5])
  at_zero = np.asarray([False, False, True, True, True, True])
  for name in ("minimax", "non_saturating", "max_likelihood", "wasserstein",
               "hinge", "fgan_gan", "fgan_js", "fgan_reverse_kl",
               "fgan_pearson", "fgan_squared_hellinger"):
    # Every one of these decides "real" exactly when the logit is positive
    # (for f-GANs: g_f(v) > f'(1) <=> v > 0).
    np.testing.assert_array_equal(
        losses.get_objective(name).is_real(logits), at_zero, err_msg=name)
  np.testing.assert_array_equal(
      losses.get_objective("least_squares").is_real(logits), logits > 0.5)
  np.testing.assert_array_equal(
      losses.get_objective("fgan_kl").is_real(logits), logits > 1.0)
  assert losses.get_objective("fgan_gan").threshold == pytest.approx(
      -math.log(2))


@pytest.mark.parametrize("name", losses.OBJECTIVES.names())
def test_shape_errors(name):
  obj = losses.get_objective(name)
  ok = jnp.zeros((4,))
  with pytest.raises(ValueError, match=r"shape \[B\]"):
    obj.d_losses(real_logits=jnp.zeros((4, 1)), fake_logits=ok)
  with pytest.raises(ValueError, match=r"shape \[B\]"):
    obj.g_losses(fake_logits=jnp.zeros((4, 1)), real_logits=ok)
  with pytest.raises(ValueError, match="batch sizes must match"):
    obj.d_losses(real_logits=ok, fake_logits=jnp.zeros((3,)))
  with pytest.raises(TypeError):
    obj.d_loss(ok, ok)  # keyword-only


@pytest.mark.parametrize("name", ["minimax", "non_saturating", "fgan_gan",
                                  "fgan_js", "fgan_squared_hellinger"])
def test_losses_are_finite_for_extreme_logits(name):
  obj = losses.get_objective(name)
  big = jnp.asarray([-80.0, -30.0, 30.0, 80.0], jnp.float32)
  d, grads = jax.value_and_grad(
      lambda r, f: obj.d_loss(real_logits=r, fake_logits=f).sum(),
      argnums=(0, 1))(big, -big)
  g = obj.g_loss(fake_logits=-big)
  assert bool(jnp.isfinite(d)) and bool(jnp.all(jnp.isfinite(g)))
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in grads)


# Two discrete densities on four points.
P = np.array([0.1, 0.4, 0.3, 0.2])
Q = np.array([0.25, 0.25, 0.4, 0.1])


def _expected_d_loss(obj, real_logits, fake_logits):
  """E_{x~P} L_D(real at x) + E_{x~Q} L_D(fake at x), for a separable L_D.

  L_D(r, f) = A(r) + B(f); with sum P = sum Q = 1 the value equals
  sum P L_D(r, 0) + sum Q L_D(0, f) - L_D(0, 0).
  """
  zeros = jnp.zeros_like(real_logits)
  return (jnp.sum(P * obj.d_loss(real_logits=real_logits, fake_logits=zeros))
          + jnp.sum(Q * obj.d_loss(real_logits=zeros, fake_logits=fake_logits))
          - obj.d_loss(real_logits=zeros[:1], fake_logits=zeros[:1])[0])


def test_optimal_discriminator_and_jensen_shannon():
  """Minimising the minimax D loss: D* = p/(p+q), V(D*) = -log 4 + 2 JSD."""
  obj = losses.get_objective("minimax")
  with enable_x64():
    neg_value = jax.jit(jax.value_and_grad(
        lambda l: _expected_d_loss(obj, l, l)))

    def fun(l):
      value, grad = neg_value(jnp.asarray(l, jnp.float64))
      return float(value), np.asarray(grad)

    result = scipy.optimize.minimize(
        fun, np.zeros(4), jac=True, method="BFGS", options={"gtol": 1e-12})
  d_star = 1.0 / (1.0 + np.exp(-result.x))
  np.testing.assert_allclose(d_star, P / (P + Q), atol=1e-7)
  m = 0.5 * (P + Q)
  jsd = 0.5 * np.sum(P * np.log(P / m)) + 0.5 * np.sum(Q * np.log(Q / m))
  assert -result.fun == pytest.approx(-math.log(4) + 2 * jsd, abs=1e-10)


def _inverse_activation(div, t):
  """v with g_f(v) = t, written independently from the table."""
  return {
      "gan": lambda: t - np.log(-np.expm1(t)),
      "js": lambda: (t - math.log(2)) - np.log(-np.expm1(t - math.log(2))),
      "kl": lambda: t,
      "reverse_kl": lambda: -np.log(-t),
      "pearson": lambda: t,
      "squared_hellinger": lambda: -np.log(1 - t),
  }[div]()


@pytest.mark.parametrize("div", DIVERGENCE_NAMES)
def test_fgan_variational_bound_is_tight_at_optimal_critic(div):
  """E_P[T*] - E_Q[f*(T*)] = D_f(P || Q) with T* = f'(p/q), via the losses."""
  divergence = divergences.get_divergence(div)
  obj = losses.get_objective(f"fgan_{div}")
  ratio = P / Q
  with enable_x64():
    f_prime = jax.vmap(jax.grad(divergence.f))(jnp.asarray(ratio, jnp.float64))
    v_star = jnp.asarray(_inverse_activation(div, np.asarray(f_prime)))
    np.testing.assert_allclose(divergence.activation(v_star), f_prime,
                               rtol=1e-10, atol=1e-12)
    bound_fn = lambda v: -_expected_d_loss(obj, v, v)
    bound = float(bound_fn(v_star))
    grad = np.asarray(jax.grad(bound_fn)(v_star))
    perturbed = float(bound_fn(v_star + jnp.asarray([0.3, -0.2, 0.1, -0.3])))
    divergence_value = float(jnp.sum(Q * divergence.f(jnp.asarray(ratio))))
  # Independent D_f = sum q f(p/q); for js it is 2 JSD, for gan 2 JSD - log 4.
  m = 0.5 * (P + Q)
  jsd = 0.5 * np.sum(P * np.log(P / m)) + 0.5 * np.sum(Q * np.log(Q / m))
  independent = {
      "gan": 2 * jsd - math.log(4),
      "js": 2 * jsd,
      "kl": np.sum(P * np.log(P / Q)),
      "reverse_kl": np.sum(Q * np.log(Q / P)),
      "pearson": np.sum((P - Q) ** 2 / Q),
      "squared_hellinger": np.sum((np.sqrt(P) - np.sqrt(Q)) ** 2),
  }[div]
  assert divergence_value == pytest.approx(independent, abs=1e-12)
  assert bound == pytest.approx(independent, abs=1e-10)
  np.testing.assert_allclose(grad, 0.0, atol=1e-10)  # stationary in v
  assert perturbed < bound  # and a maximum


@pytest.mark.parametrize("name", ["least_squares", "non_saturating", "hinge", "wasserstein"])
def test_per_example_averages_an_objective_over_every_logit_of_an_example(name):
  objective = losses.get_objective(name)
  rng = np.random.default_rng(0)
  real, fake = (rng.normal(size=(3, 4, 5)).astype(np.float32) for _ in range(2))
  d = losses.per_example(objective.d_loss, real_logits=real, fake_logits=fake)
  by_hand = [np.mean(objective.d_loss(real_logits=real[i].ravel(), fake_logits=fake[i].ravel()))
             for i in range(3)]
  np.testing.assert_allclose(d, by_hand, rtol=1e-6)
  # [B] logits: the objective itself.
  np.testing.assert_array_equal(
      losses.per_example(objective.g_loss, fake_logits=fake[:, 0, 0]),
      objective.g_loss(fake_logits=fake[:, 0, 0]))
  with pytest.raises(ValueError, match="one shape"):
    losses.per_example(objective.d_loss, real_logits=real, fake_logits=fake[:, :3])
