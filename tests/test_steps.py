"""The train step with every objective, penalties, weight clipping, k critic steps."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import toy_ring
from gan_jax import data, losses, steps, tricks
from gan_jax import sweep as sweep_lib
from gan_jax.state import create_state


def _ring_config(objective="non_saturating", **overrides):
  config = toy_ring.get_config(objective)
  config.dataset.batch_size = 64
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (32, 32)
  return sweep_lib.apply_overrides(config, overrides)


def _train(config, num_steps):
  dataset = data.get_dataset(config.dataset)
  state = create_state(config, sample_shape=(2,))
  step = jax.jit(steps.make_train_step(config))
  history = []
  for i in range(num_steps):
    state, metrics = step(state, dataset.batch_at(i, seed=0, num_critic_steps=config.num_critic_steps))
    history.append(metrics)
  return state, jax.device_get(history)


@pytest.mark.slow
@pytest.mark.parametrize("objective", losses.OBJECTIVES.names())
def test_each_objective_trains_the_ring_with_finite_losses(objective):
  config = _ring_config(objective)
  if objective in ("wasserstein",):
    config.weight_clip = 0.1
  state, history = _train(config, 300)
  assert int(state.step) == 300
  for key in ("d/loss", "g/loss"):
    values = np.array([m[key] for m in history])
    assert np.isfinite(values).all(), (objective, key)
  # Training moved the generator: its samples are not the initial ones.
  z = jax.random.normal(jax.random.PRNGKey(1), (256, config.model.latent_dim))
  init = create_state(config, sample_shape=(2,))
  assert not np.allclose(state.generate(z), init.generate(z))


def test_non_saturating_generator_reduces_its_loss_against_a_frozen_d():
  config = _ring_config(**{"optimizer_d.learning_rate": 1e-12, "optimizer_g.learning_rate": 1e-3})
  _, history = _train(config, 200)
  g = np.array([m["g/loss"] for m in history])
  assert g[-20:].mean() < g[:20].mean() - 0.05


@pytest.mark.slow
def test_weight_clipping_keeps_every_critic_weight_in_the_box():
  config = _ring_config("wasserstein", weight_clip=0.01, num_critic_steps=5,
                        **{"optimizer_d.name": "rmsprop", "optimizer_d.learning_rate": 5e-2})
  state, _ = _train(config, 3)
  leaves = jax.tree.leaves(state.d_params)
  assert max(float(jnp.abs(x).max()) for x in leaves) <= 0.01
  # The box binds: at that learning rate some weights sit exactly on it.
  assert any(bool(jnp.any(jnp.abs(x) == 0.01)) for x in leaves)


@pytest.mark.parametrize("penalty", ["wgan_gp", "r1"])
def test_penalty_with_batch_norm_discriminator_is_refused(penalty):
  config = _ring_config("wasserstein", **{"penalty.name": penalty, "penalty.weight": 10.0,
                                          "model.mlp.d_batch_norm": True})
  with pytest.raises(ValueError, match="batch norm"):
    _train(config, 1)


@pytest.mark.slow
def test_batch_norm_discriminator_trains_without_penalty():
  config = _ring_config(**{"model.mlp.d_batch_norm": True})
  state, history = _train(config, 3)
  assert state.d_batch_stats and np.isfinite(history[-1]["d/loss"])


@pytest.mark.slow
@pytest.mark.parametrize("penalty", ["wgan_gp", "r1", "r2", "dragan", "zero_centered", "r1_r2", "roth"])
def test_penalties_enter_the_critic_loss(penalty):
  config = _ring_config("wasserstein", **{"penalty.name": penalty, "penalty.weight": 10.0,
                                          "num_critic_steps": 2})
  _, history = _train(config, 2)
  assert history[0]["d/penalty"] > 0 and np.isfinite(history[-1]["d/penalty"])


def test_r1_weight_convention_is_gamma_over_two():
  assert steps.penalty_coefficient("r1", 10.0) == 5.0
  assert steps.penalty_coefficient("r2", 10.0) == 5.0
  assert steps.penalty_coefficient("wgan_gp", 10.0) == 10.0
  with pytest.raises(ValueError, match="weight 0"):
    steps.make_train_step(_ring_config(**{"penalty.name": "r1", "penalty.weight": 0.0}))


@pytest.mark.slow
def test_r1_step_equals_manual_gradient():
  """One D update with R1 equals SGD on mean softplus terms + gamma/2 * mean ||grad||^2."""
  config = _ring_config(**{"penalty.name": "r1", "penalty.weight": 4.0,
                           "optimizer_d.name": "sgd", "optimizer_d.learning_rate": 0.1})
  state = create_state(config, sample_shape=(2,))
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  new_state, _ = jax.jit(steps.make_train_step(config))(state, batch)
  z = jax.random.normal(steps.stream_key(state, "critic/0/objective/latents"),
                        (64, config.model.latent_dim))
  fake = state.generate(z)
  d = state.discriminator

  def loss(p):
    d_fn = lambda x: d.apply({"params": p}, x, train=True)
    obj = jnp.mean(jax.nn.softplus(-d_fn(batch[0])) + jax.nn.softplus(d_fn(fake)))
    grads = jax.vmap(jax.grad(lambda x: d_fn(x[None])[0]))(batch[0])
    return obj + 2.0 * jnp.mean(jnp.sum(grads ** 2, axis=-1))

  expected = jax.tree.map(lambda p, g: p - 0.1 * g, state.d_params, jax.grad(loss)(state.d_params))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               new_state.d_params, expected)


def test_k_critic_steps_consume_k_batches_and_check_the_shape():
  config = _ring_config("wasserstein", num_critic_steps=3, weight_clip=0.01)
  state = create_state(config, sample_shape=(2,))
  step = steps.make_train_step(config)
  with pytest.raises(ValueError, match="num_critic_steps=3"):
    step(state, jnp.zeros((2, 64, 2)))
  with pytest.raises(ValueError, match="num_critic_steps must be an integer >= 1, got 0"):
    steps.make_train_step(_ring_config(num_critic_steps=0))


def test_unknown_objective_and_penalty_list_choices():
  with pytest.raises(ValueError, match="valid choices:.*non_saturating"):
    config = _ring_config()
    config.objective = "nonsaturating"  # past the config file's own check
    steps.make_train_step(config)
  with pytest.raises(ValueError, match="valid choices:.*wgan_gp"):
    steps.make_train_step(_ring_config(**{"penalty.name": "gp"}))


def test_shared_latents_step_equals_manual_updates():
  """share_latents: D trains on G(z), then G descends on D_new(G(z)) with the same z."""
  lr = 0.05
  config = _ring_config(share_latents=True, **{
      "optimizer_d.name": "sgd", "optimizer_d.learning_rate": lr,
      "optimizer_g.name": "sgd", "optimizer_g.learning_rate": lr})
  state = create_state(config, sample_shape=(2,))
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  new_state, _ = jax.jit(steps.make_train_step(config))(state, batch)
  z = jax.random.normal(steps.stream_key(state, "shared_latents"), (64, config.model.latent_dim))
  g, d = state.generator, state.discriminator
  gen = lambda p: g.apply({"params": p}, z, train=True)
  dis = lambda p, x: d.apply({"params": p}, x, train=True)

  def d_loss(p):
    return jnp.mean(jax.nn.softplus(-dis(p, batch[0])) + jax.nn.softplus(dis(p, gen(state.g_params))))

  d_new = jax.tree.map(lambda p, q: p - lr * q, state.d_params, jax.grad(d_loss)(state.d_params))
  g_loss = lambda p: jnp.mean(jax.nn.softplus(-dis(d_new, gen(p))))
  g_new = jax.tree.map(lambda p, q: p - lr * q, state.g_params, jax.grad(g_loss)(state.g_params))
  for got, want in ((new_state.d_params, d_new), (new_state.g_params, g_new)):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), got, want)


def _count_eqns(jaxpr, predicate) -> int:
  """Equations satisfying `predicate` in a jaxpr and all its sub-jaxprs."""
  count = 0
  for eqn in jaxpr.eqns:
    count += predicate(eqn)
    for param in eqn.params.values():
      for sub in param if isinstance(param, (list, tuple)) else [param]:
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          count += _count_eqns(sub.jaxpr, predicate)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          count += _count_eqns(sub, predicate)
  return count


@pytest.mark.parametrize("share", [False, True])
def test_shared_latents_trace_the_generator_forward_once(share):
  """Counted in the traced step, not left to XLA's CSE (which misses batch norm)."""
  config = _ring_config(share_latents=share)
  state = create_state(config, sample_shape=(2,))
  jaxpr = jax.make_jaxpr(steps.make_train_step(config))(state, jnp.zeros((1, 64, 2)))
  first_layer = (64, config.model.latent_dim)   # G's first Dense reads z [B, latent_dim]
  forwards = _count_eqns(jaxpr.jaxpr, lambda e: e.primitive.name == "dot_general" and any(
      tuple(v.aval.shape) == first_layer for v in e.invars) and tuple(
          e.outvars[0].aval.shape) == (64, config.model.mlp.g_hidden[0]))
  assert forwards == (1 if share else 2)


def test_shared_latents_need_one_critic_step():
  with pytest.raises(ValueError, match="share_latents"):
    steps.make_train_step(_ring_config("wasserstein", num_critic_steps=2, share_latents=True))


@pytest.mark.slow
def test_r1_differentiates_the_real_pass_of_the_objective():
  """With dropout in D, R1's gradient is taken through the objective's real pass
  (same dropout mask): the step's penalty equals the one from that D."""
  config = _ring_config(**{"penalty.name": "r1", "penalty.weight": 10.0,
                           "model.mlp.dropout_rate": 0.5})
  state = create_state(config, sample_shape=(2,))
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  _, metrics = jax.jit(steps.make_train_step(config))(state, batch)

  def penalty(dropout_key):
    d = lambda x: state.discriminator.apply({"params": state.d_params}, x, train=True,
                                            rngs={"dropout": dropout_key}).sum()
    return jnp.mean(jnp.sum(jax.grad(d)(batch[0]) ** 2, axis=-1))
  real_pass, other = (penalty(steps.stream_key(state, f"critic/0/objective/{name}"))
                      for name in ("dropout_real", "dropout_fake"))
  assert abs(float(other) - float(real_pass)) > 1e-3 * float(real_pass)  # masks matter
  np.testing.assert_allclose(metrics["d/penalty"], real_pass, rtol=1e-5)


@pytest.mark.slow
def test_shared_latents_add_the_historical_averaging_gradient():
  """share_latents pulls the loss back through G's VJP; the historical-averaging
  term, which depends on G's parameters directly, must still be added (SGD:
  the G update differs from the one without it by -lr * grad of the term)."""
  lr, weight = 0.05, 0.3
  overrides = {"share_latents": True, "optimizer_g.name": "sgd",
               "optimizer_g.learning_rate": lr, "optimizer_d.learning_rate": 1e-12,
               "tricks.historical_averaging": weight}
  config = _ring_config(**overrides)
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  state, _ = jax.jit(steps.make_train_step(config))(create_state(config, sample_shape=(2,)),
                                                   batch)   # G now differs from its mean
  with_term, _ = jax.jit(steps.make_train_step(config))(state, batch)
  plain = _ring_config(**{**overrides, "tricks.historical_averaging": 0.0})
  without, _ = jax.jit(steps.make_train_step(plain))(
      state.replace(g_history=None, d_history=None), batch)
  term_grad = jax.grad(lambda p: weight * tricks.sq_distance(p, state.g_history))(state.g_params)
  assert optax.tree.norm(term_grad) > 1e-4
  jax.tree.map(lambda a, b, g: np.testing.assert_allclose(a - b, -lr * g, rtol=1e-3, atol=1e-6),
               with_term.g_params, without.g_params, term_grad)


def test_stream_keys_follow_the_documented_layout_and_refuse_unknown_names():
  config = _ring_config(num_critic_steps=2)
  state = create_state(config, sample_shape=(2,))
  step_key = jax.random.fold_in(state.rng, state.step)
  critic1 = jax.random.fold_in(step_key, 1)
  generator = jax.random.fold_in(step_key, 2)

  def same(a, b):
    bits = lambda k: jax.random.key_data(k) if jnp.issubdtype(k.dtype, jax.dtypes.prng_key) else k
    np.testing.assert_array_equal(bits(a), bits(b))
  same(steps.stream_key(state, "critic/1/penalty", num_critic_steps=2),
       jax.random.split(critic1, 3)[1])
  same(steps.stream_key(state, "generator/objective/noise", num_critic_steps=2),
       jax.random.split(jax.random.split(generator, 3)[0], 4)[2])
  same(steps.stream_key(state, "critic/0/terms", num_critic_steps=2),
       jax.random.split(jax.random.fold_in(step_key, 0), 3)[2])
  for bad in ("critic/2/penalty", "critic/0/objective/noise", "generator/penalty",
              "shared_latents/latents", "critic/0/penalty/x"):
    with pytest.raises(ValueError):
      steps.stream_key(state, bad, num_critic_steps=2)


def test_d_update_and_g_update_run_on_their_own():
  """The step is its two updates in order: calling them directly with their
  update keys gives the step's parameters."""
  config = _ring_config()
  state = create_state(config, sample_shape=(2,))
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  spec = steps.StepSpec.from_config(config)
  stepped, _ = jax.jit(steps.make_train_step(config))(state, batch)
  mid, d_metrics = jax.jit(lambda s, b: steps.d_update(
      spec, s, b[0], steps.update_key(s, "critic/0", num_critic_steps=1)))(state, batch)
  assert set(d_metrics) >= {"d/loss", "d/accuracy", "d/grad_norm"}
  end, g_metrics = jax.jit(lambda s, b: steps.g_update(
      spec, s, b, steps.update_key(s, "generator", num_critic_steps=1)))(mid, batch)
  assert set(g_metrics) == {"g/loss", "g/grad_norm"}
  close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  jax.tree.map(close, end.d_params, stepped.d_params)
  jax.tree.map(close, end.g_params, stepped.g_params)


@pytest.mark.slow
def test_max_abs_logit_is_the_peak_over_both_batches_and_every_critic_step():
  """d/max_abs_logit: max |logit| over the real and fake batches of all k critic
  updates (recorded from D's calls in the critic updates), while d/real_logits
  stays the mean over the critic steps."""
  from unittest import mock  # pylint: disable=g-import-not-at-top
  config = _ring_config("wasserstein", num_critic_steps=3, weight_clip=0.01)
  dataset = data.get_dataset(config.dataset)
  state = create_state(config, sample_shape=(2,))
  batch = dataset.batch_at(0, seed=0, num_critic_steps=3)
  seen, real_means, inside = [], [], []
  original_d_update, original_apply = steps.d_update, steps.discriminate

  def recording_apply(*args, **kwargs):
    out = original_apply(*args, **kwargs)
    if inside:  # D's calls in a critic update, not in G's
      bucket = seen[-1]
      jax.debug.callback(lambda v: bucket.append(float(np.abs(v).max())), out[0])
    return out

  def recording_d_update(spec, st, real, *args, **kwargs):
    seen.append([])
    inside.append(True)
    out = original_d_update(spec, st, real, *args, **kwargs)
    inside.pop()
    real_means.append(float(out[1]["d/real_logits"]))
    return out

  with jax.disable_jit(), mock.patch.object(steps, "discriminate", recording_apply), \
       mock.patch.object(steps, "d_update", recording_d_update):
    _, metrics = steps.make_train_step(config)(state, batch)
  assert len(seen) == 3 and all(len(s) == 2 for s in seen)  # real and fake per critic step
  np.testing.assert_allclose(metrics["d/max_abs_logit"], max(max(s) for s in seen), rtol=1e-6)
  peaks = [max(s) for s in seen]
  assert metrics["d/max_abs_logit"] > np.mean(peaks) + 1e-3  # the max, not a mean of peaks
  np.testing.assert_allclose(metrics["d/real_logits"], np.mean(real_means), rtol=1e-6)


def test_peak_metrics_combine_by_max_and_the_rest_by_mean():
  from gan_jax import reductions  # pylint: disable=g-import-not-at-top
  assert reductions.is_peak("d/max_abs_logit") and not reductions.is_peak("d/loss")
  assert not reductions.is_peak("max_d/loss")  # only the last part of the key counts
  assert reductions.combine("d/max_abs_logit", [1.0, 7.0, 3.0]) == 7.0
  assert reductions.combine("d/loss", [1.0, 7.0, 3.0]) == pytest.approx(11 / 3)
