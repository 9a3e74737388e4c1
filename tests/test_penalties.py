"""Tests for gan_jax.penalties: closed forms on linear critics, finite
differences on a tanh MLP, the sampled points, double backprop, and checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64
from jax.test_util import check_grads

from gan_jax import penalties

NAMES = ["dragan", "none", "r1", "r1_r2", "r2", "roth", "wgan_gp", "wgan_gp_one_sided",
         "zero_centered"]
SHAPE = (4, 3, 2, 2)  # [B, H, W, C]: norms must run over all non-batch axes.


def _linear_critic(w, b=0.5):
  return lambda x: x.reshape(x.shape[0], -1) @ w + b


def _batches(seed=0, dtype=jnp.float32):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  return (jax.random.normal(k1, SHAPE, dtype),
          jax.random.normal(k2, SHAPE, dtype) + 2.0)


def test_registry_names_and_unknown_name():
  assert set(NAMES) <= set(penalties.PENALTIES.names())  # a user's own may be registered too
  with pytest.raises(ValueError) as info:
    penalties.get_penalty("gp")
  for name in NAMES:
    assert name in str(info.value)


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_linear_critic_closed_forms(norm):
  dim = int(np.prod(SHAPE[1:]))
  direction = jax.random.normal(jax.random.PRNGKey(1), (dim,))
  w = norm * direction / jnp.linalg.norm(direction)
  d_fn = _linear_critic(w)
  x_real, x_fake = _batches()
  key = jax.random.PRNGKey(2)
  got = {name: penalties.get_penalty(name)(
      d_fn=d_fn, x_real=x_real, x_fake=x_fake, key=key) for name in NAMES}
  for name, value in got.items():
    assert value.shape == (SHAPE[0],), name
  expected = {
      "none": 0.0,
      "r1": norm ** 2, "r2": norm ** 2, "zero_centered": norm ** 2,
      "wgan_gp": (norm - 1) ** 2, "dragan": (norm - 1) ** 2,
      "wgan_gp_one_sided": max(0.0, norm - 1) ** 2,
      "r1_r2": 2 * norm ** 2,
  }
  sigmoid = lambda v: 1 / (1 + np.exp(-np.asarray(v, np.float64)))
  expected_roth = ((1 - sigmoid(d_fn(x_real))) ** 2 + sigmoid(d_fn(x_fake)) ** 2) * norm ** 2
  np.testing.assert_allclose(got["roth"], expected_roth, rtol=1e-5)
  for name, value in expected.items():
    np.testing.assert_allclose(got[name], np.full(SHAPE[0], value),
                               atol=1e-5, err_msg=name)


def _mlp_critic():
  """A small tanh MLP D: [B, 3, 2, 2] -> [B] and its parameters (float64)."""
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(3), 3)
  dim = int(np.prod(SHAPE[1:]))
  params = {
      "w1": jax.random.normal(k1, (dim, 8), jnp.float64) / np.sqrt(dim),
      "b1": jax.random.normal(k2, (8,), jnp.float64) * 0.1,
      "w2": jax.random.normal(k3, (8,), jnp.float64),
  }

  def apply(params, x):
    h = jnp.tanh(x.reshape(x.shape[0], -1) @ params["w1"] + params["b1"])
    return h @ params["w2"]

  return params, apply


def _central_difference_gradients(d_fn, x, step=1e-6):
  """grad_x D(x_i) per example by central differences, float64 numpy."""
  x = np.asarray(x)
  grads = np.zeros_like(x)
  flat = x.reshape(x.shape[0], -1)
  for j in range(flat.shape[1]):
    bump = np.zeros_like(flat)
    bump[:, j] = step
    up = np.asarray(d_fn(jnp.asarray((flat + bump).reshape(x.shape))))
    down = np.asarray(d_fn(jnp.asarray((flat - bump).reshape(x.shape))))
    grads.reshape(x.shape[0], -1)[:, j] = (up - down) / (2 * step)
  return grads


def test_gradient_penalties_match_finite_differences_on_tanh_mlp():
  with enable_x64():
    params, apply = _mlp_critic()
    d_fn = lambda x: apply(params, x)
    x_real, x_fake = _batches(seed=4, dtype=jnp.float64)
    fd = _central_difference_gradients(d_fn, x_real).reshape(SHAPE[0], -1)
    fd_sq = np.sum(fd ** 2, axis=1)
    fd_norm = np.sqrt(fd_sq)
    key = jax.random.PRNGKey(5)
    r1 = penalties.r1(d_fn=d_fn, x_real=x_real, x_fake=x_fake, key=None)
    r2 = penalties.r2(d_fn=d_fn, x_real=x_fake, x_fake=x_real, key=None)
    # With x_fake == x_real every interpolate is x_real, whatever eps.
    same = dict(d_fn=d_fn, x_real=x_real, x_fake=x_real, key=key)
    gp = penalties.wgan_gp(**same)
    one_sided = penalties.wgan_gp_one_sided(**same)
    zc = penalties.zero_centered(**same)
    grads = penalties.input_gradients(d_fn=d_fn, x=x_real)
    fd_fake_sq = np.sum(_central_difference_gradients(d_fn, x_fake).reshape(SHAPE[0], -1) ** 2,
                        axis=1)
    both = penalties.r1_r2(d_fn=d_fn, x_real=x_real, x_fake=x_fake, key=None)
    roth = penalties.roth(d_fn=d_fn, x_real=x_real, x_fake=x_fake, key=None)
    s_real, s_fake = (np.asarray(jax.nn.sigmoid(d_fn(x))) for x in (x_real, x_fake))
  np.testing.assert_allclose(both, fd_sq + fd_fake_sq, rtol=1e-7)
  np.testing.assert_allclose(roth, (1 - s_real) ** 2 * fd_sq + s_fake ** 2 * fd_fake_sq,
                             rtol=1e-7)
  np.testing.assert_allclose(grads.reshape(SHAPE[0], -1), fd, rtol=1e-7,
                             atol=1e-9)
  np.testing.assert_allclose(r1, fd_sq, rtol=1e-7)
  np.testing.assert_allclose(r2, fd_sq, rtol=1e-7)
  np.testing.assert_allclose(zc, fd_sq, rtol=1e-7)
  np.testing.assert_allclose(gp, (fd_norm - 1) ** 2, rtol=1e-6, atol=1e-10)
  np.testing.assert_allclose(one_sided, np.maximum(fd_norm - 1, 0) ** 2,
                             rtol=1e-6, atol=1e-10)


def test_penalty_gradients_wrt_params_match_finite_differences():
  """Double backprop: d(penalty)/d(params) against numerical gradients."""
  with enable_x64():
    params, apply = _mlp_critic()
    x_real, x_fake = _batches(seed=6, dtype=jnp.float64)
    key = jax.random.PRNGKey(7)
    for name in ("r1", "wgan_gp", "dragan", "r1_r2", "roth"):
      penalty = penalties.get_penalty(name)
      loss = lambda p: penalty(d_fn=lambda x: apply(p, x), x_real=x_real,
                               x_fake=x_fake, key=key).mean()
      check_grads(loss, (params,), order=1, modes=["rev"],
                                atol=1e-6, rtol=1e-6, eps=1e-5)


def test_wgan_gp_at_zero_gradient_has_finite_parameter_gradient():
  x_real, x_fake = _batches()
  loss = lambda w: penalties.wgan_gp(
      d_fn=_linear_critic(w), x_real=x_real, x_fake=x_fake,
      key=jax.random.PRNGKey(0)).mean()
  w = jnp.zeros(int(np.prod(SHAPE[1:])))
  value, grad = jax.value_and_grad(loss)(w)
  assert float(value) == pytest.approx(1.0)
  assert bool(jnp.all(jnp.isfinite(grad)))
  # Away from zero: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||.
  w = jnp.arange(w.size, dtype=jnp.float32) / w.size
  norm = jnp.linalg.norm(w)
  np.testing.assert_allclose(jax.grad(loss)(w), 2 * (norm - 1) * w / norm,
                             rtol=1e-4, atol=1e-6)


def test_interpolates_use_one_eps_per_example():
  x_real, x_fake = _batches()
  x_hat = penalties.interpolates(x_real=x_real, x_fake=x_fake,
                                 key=jax.random.PRNGKey(8))
  diff = (x_real - x_fake).reshape(SHAPE[0], -1)
  offset = (x_hat - x_fake).reshape(SHAPE[0], -1)
  eps = offset / diff  # must be constant within each example
  np.testing.assert_allclose(eps, eps[:, :1] * np.ones_like(eps), atol=1e-4)
  assert np.all((eps[:, 0] >= 0) & (eps[:, 0] <= 1))
  assert len(np.unique(np.round(eps[:, 0], 4))) == SHAPE[0]


def test_dragan_points_perturb_real_data_by_half_std_uniform_noise():
  x_real = jax.random.normal(jax.random.PRNGKey(9), (4096, 8)) * 3.0 + 1.0
  x_hat = penalties.dragan_points(x_real=x_real, key=jax.random.PRNGKey(10))
  delta = np.asarray(x_hat - x_real)
  bound = 0.5 * float(jnp.std(x_real))
  assert np.all(delta >= 0) and np.all(delta <= bound + 1e-5)
  # Mean of alpha * u with alpha, u ~ U[0, 1] independent is 1/4.
  # (alpha is per example: its mean over 4096 examples has std ~0.0025.)
  assert delta.mean() / bound == pytest.approx(0.25, abs=0.015)
  assert not np.allclose(delta, delta[:, :1])  # elementwise noise


def test_stochastic_penalties_need_a_key_and_shapes_are_checked():
  x_real, x_fake = _batches()
  d_fn = _linear_critic(jnp.ones(int(np.prod(SHAPE[1:]))))
  for name in ("wgan_gp", "wgan_gp_one_sided", "dragan", "zero_centered"):
    with pytest.raises(ValueError, match="needs a key"):
      penalties.get_penalty(name)(d_fn=d_fn, x_real=x_real, x_fake=x_fake,
                                  key=None)
  with pytest.raises(ValueError, match="same shape"):
    penalties.r1(d_fn=d_fn, x_real=x_real, x_fake=x_fake[:2], key=None)
  with pytest.raises(ValueError, match="one logit per example"):
    penalties.r1(d_fn=lambda x: d_fn(x)[:, None], x_real=x_real,
                 x_fake=x_fake, key=None)
  with pytest.raises(TypeError):
    penalties.r1(d_fn, x_real, x_fake, None)  # keyword-only


def test_penalties_jit():
  x_real, x_fake = _batches()
  w = jnp.ones(int(np.prod(SHAPE[1:]))) / 4.0
  fn = jax.jit(lambda w, key: penalties.wgan_gp(
      d_fn=_linear_critic(w), x_real=x_real, x_fake=x_fake, key=key))
  np.testing.assert_allclose(fn(w, jax.random.PRNGKey(0)),
                             np.full(SHAPE[0], (np.sqrt(12) / 4 - 1) ** 2),
                             rtol=1e-5)


def test_check_penalty_compatible():
  params = {"Dense_0": {"kernel": jnp.ones((2, 1))}}
  penalties.check_penalty_compatible({"params": params})
  with_bn = {"params": params,
             "batch_stats": {"BatchNorm_0": {"mean": jnp.zeros(3),
                                             "var": jnp.ones(3)}}}
  with pytest.raises(ValueError, match="batch_stats"):
    penalties.check_penalty_compatible(with_bn)
  with pytest.raises(ValueError, match="'wgan_gp'"):
    penalties.check_penalty_compatible(with_bn, penalty_name="wgan_gp")
  penalties.check_penalty_compatible(with_bn, penalty_name="none")


def test_each_penalty_declares_its_weight_convention(monkeypatch):
  for name in ("r1", "r2", "r1_r2", "roth"):  # gamma: the step adds gamma / 2
    assert penalties.penalty_coefficient(name, 10.0) == 5.0, name
  for name in ("wgan_gp", "wgan_gp_one_sided", "dragan", "zero_centered"):  # lambda
    assert penalties.penalty_coefficient(name, 10.0) == 10.0, name
  with pytest.raises(ValueError, match="Unknown gradient penalty"):
    penalties.penalty_coefficient("gp", 1.0)
  # Put into the registry without `register`: no convention, so no silent default.
  monkeypatch.setitem(penalties.PENALTIES._items, "undeclared", penalties.r1)  # pylint: disable=protected-access
  with pytest.raises(ValueError, match="declares no weight convention"):
    penalties.penalty_coefficient("undeclared", 1.0)
