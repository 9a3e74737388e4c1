"""Each training trick's defining property."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import toy_ring
from gan_jax import data, losses, steps, train, tricks
from gan_jax.state import create_state


def _config(objective="non_saturating", **tricks_overrides):
  config = toy_ring.get_config(objective)
  config.dataset.batch_size = 32
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16, 16)
  config.tricks.update(tricks_overrides)
  return config


def _run(config, num_steps, *, keep_params=False):
  dataset = data.get_dataset(config.dataset)
  state = create_state(config, sample_shape=(2,))
  step = jax.jit(steps.make_train_step(config))
  g_params, metrics = [state.g_params], []
  for i in range(num_steps):
    state, m = step(state, dataset.batch_at(i, seed=0, num_critic_steps=config.num_critic_steps))
    metrics.append(m)
    if keep_params:
      g_params.append(state.g_params)
  return state, g_params, jax.device_get(metrics)


# --- label smoothing ---------------------------------------------------------


@pytest.mark.parametrize("objective", ["non_saturating", "least_squares"])
def test_label_smoothing_moves_ds_optimum_on_real_data_to_one_minus_eps(objective):
  eps = 0.1
  grid = jnp.linspace(-6, 6, 120001)
  fake = -50.0 if objective == "non_saturating" else 0.0  # fake term ~0 either way
  loss = losses.get_objective(objective).d_losses(
      real_logits=grid, fake_logits=jnp.full_like(grid, fake), label_smoothing=eps)
  best = grid[jnp.argmin(loss)]
  d_value = jax.nn.sigmoid(best) if objective == "non_saturating" else best
  assert float(d_value) == pytest.approx(1 - eps, abs=1e-3)


def test_label_smoothing_is_the_objectives_own_target_and_wasserstein_is_refused():
  r, f = jnp.array([0.3, -1.0]), jnp.array([2.0, -0.5])
  minimax = losses.get_objective("minimax")
  np.testing.assert_array_equal(minimax.d_losses(real_logits=r, fake_logits=f, label_smoothing=0.0),
                                minimax.d_loss(real_logits=r, fake_logits=f))
  eps = 0.2  # -(1 - eps) log D(x) - eps log(1 - D(x)) - log(1 - D(G(z)))
  d_real, d_fake = jax.nn.sigmoid(r), jax.nn.sigmoid(f)
  np.testing.assert_allclose(
      minimax.d_losses(real_logits=r, fake_logits=f, label_smoothing=eps),
      -(1 - eps) * jnp.log(d_real) - eps * jnp.log(1 - d_real) - jnp.log(1 - d_fake), rtol=1e-6)
  assert set(losses.smoothable_objectives()) == {"minimax", "non_saturating", "max_likelihood",
                                                 "least_squares"}
  with pytest.raises(ValueError, match="label smoothing needs a real/fake target"):
    steps.make_train_step(_config("wasserstein", label_smoothing=0.1))
  with pytest.raises(ValueError, match="label smoothing needs a real/fake target"):
    losses.get_objective("hinge").d_losses(real_logits=r, fake_logits=f, label_smoothing=0.1)


# --- instance noise ----------------------------------------------------------


def test_instance_noise_schedule_and_scale():
  assert float(tricks.instance_noise_std(jnp.asarray(0), std=0.5, anneal_steps=100)) == 0.5
  assert float(tricks.instance_noise_std(jnp.asarray(50), std=0.5, anneal_steps=100)) == 0.25
  assert float(tricks.instance_noise_std(jnp.asarray(150), std=0.5, anneal_steps=100)) == 0.0
  assert float(tricks.instance_noise_std(jnp.asarray(10**6), std=0.5, anneal_steps=0)) == 0.5


@pytest.mark.slow
def test_instance_noise_reaches_d_and_anneals_away():
  plain = _run(_config(), 3)[2]
  noisy = _run(_config(instance_noise_std=1.0, instance_noise_anneal_steps=2), 3)[2]
  assert noisy[0]["d/loss"] != plain[0]["d/loss"]
  np.testing.assert_allclose([m["d/instance_noise_std"] for m in noisy], [1.0, 0.5, 0.0])


# --- feature matching --------------------------------------------------------


def test_feature_matching_loss_closed_form():
  real = jnp.array([[1.0, 2.0], [3.0, 4.0]])
  fake = jnp.array([[0.0, 0.0], [2.0, 2.0]])
  assert float(tricks.feature_matching_loss(real_features=real, fake_features=fake)) == 5.0
  assert float(tricks.feature_matching_loss(real_features=real, fake_features=real[::-1])) == 0.0


def test_feature_matching_step_uses_d_features():
  config = _config(feature_matching=True)
  state = create_state(config, sample_shape=(2,))
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  _, metrics = jax.jit(steps.make_train_step(config))(state, batch)
  plain_state, plain = jax.jit(steps.make_train_step(_config()))(state, batch)
  assert float(metrics["g/loss"]) >= 0 and float(metrics["g/loss"]) != float(plain["g/loss"])
  assert float(metrics["d/loss"]) == pytest.approx(float(plain["d/loss"]), rel=1e-6)


# --- historical averaging ----------------------------------------------------


@pytest.mark.slow
def test_historical_average_is_the_mean_of_all_past_parameters():
  config = _config(historical_averaging=0.01)
  state, g_params, _ = _run(config, 4, keep_params=True)
  expected = jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs), axis=0), *g_params)
  chex.assert_trees_all_close(state.g_history, expected, rtol=1e-5, atol=1e-7)


def test_historical_averaging_penalty_pulls_toward_the_average():
  avg = {"w": jnp.zeros(3)}
  assert float(tricks.sq_distance({"w": jnp.array([1.0, 2.0, 2.0])}, avg)) == 9.0


# --- unrolled GAN ------------------------------------------------------------


@pytest.mark.slow
def test_unrolled_with_a_frozen_d_optimizer_equals_plain():
  """With D's learning rate ~0 the unrolled D equals D, so G's update is the plain one."""
  frozen = dict(learning_rate=1e-30)
  plain_cfg, unrolled_cfg = _config(), _config(unrolled_steps=3)
  for c in (plain_cfg, unrolled_cfg):
    c.optimizer_d.update(frozen)
  plain = _run(plain_cfg, 2)[0]
  unrolled = _run(unrolled_cfg, 2)[0]
  chex.assert_trees_all_close(unrolled.g_params, plain.g_params, rtol=1e-5, atol=1e-7)
  moving = _config(unrolled_steps=3)
  moving.optimizer_d.learning_rate = 1e-2
  base_moving = _config()
  base_moving.optimizer_d.learning_rate = 1e-2
  a, b = _run(moving, 1)[0], _run(base_moving, 1)[0]
  chex.assert_trees_all_close(a.d_params, b.d_params, rtol=1e-6)  # D's own update unchanged
  assert not np.allclose(jax.tree.leaves(a.g_params)[0], jax.tree.leaves(b.g_params)[0])


# --- consensus optimization --------------------------------------------------


def test_consensus_regularizer_is_half_the_squared_field_norm():
  v = tricks.consensus_regularizer(g_field={"a": jnp.array([3.0])},
                                   d_field={"b": jnp.array([[4.0]])})
  assert float(v) == 12.5


@pytest.mark.slow
def test_consensus_changes_both_updates_and_zero_gamma_is_plain():
  plain = _run(_config(), 2)[0]
  zero = _run(_config(consensus=0.0), 2)[0]
  chex.assert_trees_all_equal(zero.g_params, plain.g_params)
  con = _run(_config(consensus=1.0), 2)[0]
  assert not np.allclose(jax.tree.leaves(con.d_params)[0], jax.tree.leaves(plain.d_params)[0])
  assert not np.allclose(jax.tree.leaves(con.g_params)[0], jax.tree.leaves(plain.g_params)[0])


# --- generator EMA -----------------------------------------------------------


@pytest.mark.slow
def test_ema_equals_the_closed_form_average():
  decay, start, n = 0.9, 2, 5
  state, g_params, _ = _run(_config(ema_decay=decay, ema_start=start), n, keep_params=True)
  # theta_k = params after update k (g_params[k]); ema = theta_start before start, then
  # ema_k = d ema_{k-1} + (1-d) theta_k for updates with index >= start.
  leaves = [np.asarray(jax.tree.leaves(p)[0]) for p in g_params]
  ema = leaves[start]  # after update index start-1 (1-based: `start`), a plain copy
  for k in range(start + 1, n + 1):
    ema = decay * ema + (1 - decay) * leaves[k]
  np.testing.assert_allclose(np.asarray(jax.tree.leaves(state.ema_params)[0]), ema, rtol=1e-5)
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 16))
  raw = state.replace(ema_params=None)
  assert not np.allclose(state.generate(z), raw.generate(z))  # samples come from the EMA


@pytest.mark.slow
def test_ema_state_survives_checkpoint_resume(tmp_path):
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  config = _config(ema_decay=0.5)
  config.train.update(num_steps=4, checkpoint_every=2, sample_every=4, log_every=2,
                      progress_bar=False, num_grid_samples=16)
  straight = train.train_and_evaluate(config, str(tmp_path / "a"))
  half = config.copy_and_resolve_references()
  half.train.num_steps = 2
  train.train_and_evaluate(half, str(tmp_path / "b"))
  resumed = train.train_and_evaluate(config, str(tmp_path / "b"))
  chex.assert_trees_all_close(resumed.ema_params, straight.ema_params, rtol=1e-6)


@pytest.mark.slow
def test_ema_candidates_equal_the_ema_trick_on_one_trajectory_and_are_each_scored(tmp_path):
  # The EMA trick at (0.5, 1) and candidate 0.5@1 beside it: the candidates do not feed
  # back, so the trajectory is the EMA run's and candidate 0 is its ema_params, bit for bit.
  single = _config(ema_decay=0.5, ema_start=1)
  both = _config(ema_decay=0.5, ema_start=1, ema_candidates="0.5@1,0.9")
  for c in (single, both):
    c.eval.update(every_steps=3, num_samples=64)
    c.train.update(num_steps=3, checkpoint_every=3, sample_every=3, log_every=3,
                   progress_bar=False, num_grid_samples=16)
  ema_run = train.train_and_evaluate(single, str(tmp_path / "ema"))
  state = train.train_and_evaluate(both, str(tmp_path / "candidates"))
  chex.assert_trees_all_equal(state.g_params, ema_run.g_params)
  first, second = state.trick_state["ema_candidates"]
  chex.assert_trees_all_equal(first, ema_run.ema_params)
  leaves = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])
  assert not np.allclose(leaves(second), leaves(first))  # 0.9 from step 0 is another average
  from gan_jax import writers  # pylint: disable=g-import-not-at-top
  row = [r for r in writers.read_metrics(str(tmp_path / "candidates")) if "num_fake" in r][-1]
  scores = ("high_quality", "modes_covered", "modes_covered_loose", "num_modes")
  for name in ("ema0.5@1", "ema0.9@0"):
    assert sorted(k for k in row if k.startswith(f"ema_candidates/{name}/")) == [
        f"ema_candidates/{name}/{k}" for k in scores]
  # The same G as the run's EMA scores the same on the same evaluation samples.
  assert all(row[f"ema_candidates/ema0.5@1/{k}"] == row[f"eval/{k}"] for k in scores)


@pytest.mark.parametrize("text", ["0.99@-1", "1.0@0", "0.9@x", "abc"])
def test_malformed_ema_candidates_fail_before_training(tmp_path, text):
  config = _config(ema_candidates=text)
  with pytest.raises(ValueError, match="ema_candidates"):
    train.train_and_evaluate(config, str(tmp_path))
  assert not (tmp_path / "config.json").exists()
  assert tricks.parse_ema_candidates("0.999@1000, 0.99") == ((0.999, 1000), (0.99, 0))


@pytest.mark.parametrize("field,value", [("label_smoothing", 1.0), ("consensus", -1.0),
                                         ("unrolled_steps", -1), ("ema_decay", 1.0)])
def test_impossible_trick_values_fail(field, value):
  config = _config(**{field: value})
  with pytest.raises(ValueError, match=field):
    steps.make_train_step(config)
    create_state(config, sample_shape=(2,))


# --- minibatch discrimination and virtual batch norm --------------------------


def test_minibatch_discrimination_sees_batch_diversity():
  from gan_jax.models.batch_layers import MinibatchDiscrimination  # pylint: disable=g-import-not-at-top
  layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=3)
  x0 = jnp.ones((1, 6))
  collapsed = jnp.tile(x0, (8, 1))
  diverse = jnp.concatenate([x0, jax.random.normal(jax.random.PRNGKey(0), (7, 6)) * 3])
  params = layer.init(jax.random.PRNGKey(1), collapsed)
  out_c = layer.apply(params, collapsed)
  out_d = layer.apply(params, diverse)
  assert out_c.shape == (8, 10)
  np.testing.assert_allclose(out_c[:, 6:], 7.0, rtol=1e-6)  # 7 identical neighbours, exp(0) each
  np.testing.assert_array_equal(out_c[0, :6], out_d[0, :6])  # features pass through
  assert float(out_d[0, 6:].max()) < 7.0 - 1e-3  # same x0, other batch: different statistic


@pytest.mark.slow
def test_minibatch_discrimination_in_d_and_refused_with_penalties():
  config = _config()
  config.model.mlp.minibatch_kernels = 8
  state, _, m = _run(config, 2)
  assert "MinibatchDiscrimination_0" in state.d_params and np.isfinite(m[-1]["d/loss"])
  config.penalty.update(name="r1", weight=1.0)
  with pytest.raises(ValueError, match="minibatch discrimination"):
    steps.make_train_step(config)


@pytest.mark.slow
def test_virtual_batch_norm_makes_each_sample_independent_of_its_batch():
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  cfg = _config().model
  cfg.mlp.vbn_reference_size = 16
  g, _ = models.build_models(cfg, (2,))
  z = jax.random.normal(jax.random.PRNGKey(0), (3, cfg.latent_dim))
  params = g.init(jax.random.PRNGKey(1), z, train=True)
  a = g.apply(params, z[:2], train=True)
  b = g.apply(params, jnp.stack([z[0], z[2]]), train=True)
  np.testing.assert_allclose(a[0], b[0], rtol=1e-6)  # z0's sample ignores its batch-mates
  assert a.shape == (2, 2)
  from gan_jax.models.batch_layers import VirtualBatchNorm  # pylint: disable=g-import-not-at-top
  x = jax.random.normal(jax.random.PRNGKey(2), (20, 5)) * 4 + 3
  vbn = VirtualBatchNorm(reference_size=16)
  y = vbn.apply(vbn.init(jax.random.PRNGKey(3), x), x)
  np.testing.assert_allclose(y[:16].mean(0), 0.0, atol=1e-5)  # reference rows: its own stats
  np.testing.assert_allclose(y[:16].std(0), 1.0, rtol=1e-3)


# --- the registry ------------------------------------------------------------


def test_a_new_loss_term_is_one_function_and_one_registry_line(monkeypatch):
  """A trick registered from outside joins D's loss with no edit of the step:
  one SGD update with an L2 term w ||psi||^2 moves D's parameters by
  -lr * 2 w psi beyond the plain update."""
  # Copies of the registry's tables, restored after the test.
  monkeypatch.setattr(tricks.TRICKS, "_items", dict(tricks.TRICKS._items))  # pylint: disable=protected-access
  monkeypatch.setattr(tricks, "_ORDER", list(tricks._ORDER))  # pylint: disable=protected-access
  tricks.register("d_l2", kind="loss_term", config_field="d_l2", players=("d",))(
      lambda ctx: ctx.tricks["d_l2"] * tricks.sq_norm(ctx.params))
  lr, weight = 0.1, 0.3

  def one_update(w):
    config = _config()
    config.optimizer_d.update(name="sgd", learning_rate=lr)
    with config.unlocked():
      config.tricks.d_l2 = w
    state = create_state(config, sample_shape=(2,))
    batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
    spec = steps.StepSpec.from_config(config)
    key = steps.update_key(state, "critic/0", num_critic_steps=1)
    return state, jax.jit(lambda s: steps.d_update(spec, s, batch[0], key))(state)[0]

  start, with_term = one_update(weight)
  _, plain = one_update(0.0)
  expected = jax.tree.map(lambda p, s: p - lr * 2 * weight * s, plain.d_params, start.d_params)
  chex.assert_trees_all_close(with_term.d_params, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_new_lookahead_and_g_loss_join_by_kind_with_their_metrics(monkeypatch):
  """A d_lookahead from outside picks the D parameters G's loss is taken at: D
  with all-zero parameters gives G a zero gradient (Adam then leaves G as is),
  while D's own update is untouched; its metrics are logged. Two tricks that
  each replace G's loss are refused."""
  monkeypatch.setattr(tricks.TRICKS, "_items", dict(tricks.TRICKS._items))  # pylint: disable=protected-access
  monkeypatch.setattr(tricks, "_ORDER", list(tricks._ORDER))  # pylint: disable=protected-access
  tricks.register("zero_d", kind="d_lookahead", config_field="zero_d",
                  metrics=lambda step, tricks: {"g/zero_d_step": 2.0 * step})(
      lambda ctx: jax.tree.map(jnp.zeros_like, ctx.d_params))
  config, plain_config = _config(), _config()
  with config.unlocked():
    config.tricks.zero_d = True
  with plain_config.unlocked():
    plain_config.tricks.zero_d = False
  start = create_state(config, sample_shape=(2,))
  state, _, metrics = _run(config, 2)
  plain, _, _ = _run(plain_config, 1)
  one, _, _ = _run(config, 1)
  chex.assert_trees_all_equal(one.d_params, plain.d_params)  # D's update is its own
  chex.assert_trees_all_equal(state.g_params, start.g_params)
  assert not np.allclose(jax.tree.leaves(plain.g_params)[0], jax.tree.leaves(start.g_params)[0])
  assert [m["g/zero_d_step"] for m in metrics] == [0.0, 2.0]
  tricks.register("fm2", kind="g_loss", config_field="zero_d")(tricks.feature_matching_loss)
  config.tricks.feature_matching = True
  with pytest.raises(ValueError, match="feature_matching and fm2 each replace G's loss"):
    steps.make_train_step(config)


def test_enabled_tricks_follow_the_config_and_a_missing_field_is_named():
  on = tricks.enabled({**base_tricks(), "consensus": 0.5, "ema_decay": 0.9}, "loss_term")
  assert [t.name for t in on] == ["consensus"]
  names = [t.name for t in tricks.enabled({**base_tricks(), "ema_decay": 0.9,
                                           "historical_averaging": 0.1}, "state_update")]
  assert names == ["ema", "historical_means"]
  with pytest.raises(ValueError, match="config.tricks.consensus"):
    tricks.enabled({"historical_averaging": 0.0}, "loss_term")
  with pytest.raises(ValueError, match="Unknown trick kind"):
    tricks.register("x", kind="loss", config_field="x")


def base_tricks():
  from gan_jax.configs import base  # pylint: disable=g-import-not-at-top
  return base.get_config().tricks.to_dict()



# --- historical generated batches (the fake pool) ---------------------------


def _pool_tricks(size, share=0.5):
  return {**base_tricks(), "fake_pool_size": size, "fake_pool_share": share}


def test_a_full_pool_gives_exactly_the_share_of_stored_fakes_and_swaps_them_in():
  t = _pool_tricks(10, share=0.25)
  stored = jnp.arange(10.0)[:, None] + 100.0  # entries 100 ... 109
  fresh = -jnp.arange(8.0)[:, None] - 1.0     # fakes -1 ... -8
  out, kept = tricks.historical_fake_batch(
      fresh, kept={"images": stored, "count": jnp.asarray(10)}, key=jax.random.PRNGKey(0),
      tricks=t)
  m = tricks.pool_draws(8, tricks=t)
  assert m == 2
  from_pool = np.asarray(out[:, 0]) >= 100
  assert from_pool.sum() == m and from_pool[:m].all()  # distinct draws, in the first m rows
  assert len(set(np.asarray(out[:m, 0]))) == m
  np.testing.assert_array_equal(out[m:], fresh[m:])
  new = np.asarray(kept["images"][:, 0])
  taken = (np.asarray(out[:m, 0]) - 100).astype(int)
  np.testing.assert_array_equal(new[taken], np.asarray(fresh[:m, 0]))  # the swap
  untouched = np.setdiff1d(np.arange(10), taken)
  np.testing.assert_array_equal(new[untouched], np.asarray(stored[untouched, 0]))
  assert int(kept["count"]) == 10


def test_a_filling_pool_passes_the_fresh_fakes_and_stores_them_in_order():
  t = _pool_tricks(10)
  kept = tricks.fake_pool_init((1,), tricks=t)
  seen = []
  for i in range(3):  # 4 fakes a batch: 0-3, 4-7, then 8-9 fill it and 10-11 are dropped
    fresh = jnp.arange(4.0 * i, 4.0 * i + 4)[:, None]
    out, kept = tricks.historical_fake_batch(fresh, kept=kept, key=jax.random.PRNGKey(i),
                                             tricks=t)
    seen.append(int(kept["count"]))
    np.testing.assert_array_equal(out, fresh)
  assert seen == [4, 8, 10]
  np.testing.assert_array_equal(kept["images"][:, 0], np.arange(10.0))
  out, _ = tricks.historical_fake_batch(jnp.full((4, 1), -1.0), kept=kept,
                                        key=jax.random.PRNGKey(3), tricks=t)
  assert (np.asarray(out[:, 0]) >= 0).sum() == 2  # now full: half from the pool


@pytest.mark.slow
def test_the_pool_is_in_the_state_and_d_trains_on_it():
  config = _config(fake_pool_size=64)
  state = create_state(config, sample_shape=(2,))
  assert state.trick_state["fake_pool"]["images"].shape == (64, 2)
  assert create_state(_config(), sample_shape=(2,)).trick_state is None
  state, _, _ = _run(config, 2)  # batch 32: two steps fill it
  assert int(state.trick_state["fake_pool"]["count"]) == 64
  spec = steps.StepSpec.from_config(config)
  marked = state.replace(trick_state={"fake_pool": {"images": jnp.full((64, 2), 7.0),
                                                    "count": jnp.asarray(64)}})
  fake = jnp.zeros((32, 2))
  d_fake_batch = steps._d_fake_batch  # pylint: disable=protected-access
  out, kept = d_fake_batch(spec, marked, fake, jax.random.PRNGKey(0))
  assert int((np.asarray(out[:, 0]) == 7.0).sum()) == 16
  assert int((np.asarray(kept["fake_pool"]["images"][:, 0]) == 0.0).sum()) == 16
  with pytest.raises(ValueError, match="fake_pool_size 8 is below the 16 fakes"):
    _run(_config(fake_pool_size=8), 1)


@pytest.mark.slow
def test_a_run_with_a_pool_resumes_bit_exactly(tmp_path):
  def run(workdir, num_steps):
    config = _config(fake_pool_size=48)
    config.eval.every_steps = 0
    config.train.update(num_steps=num_steps, log_every=1, sample_every=100, checkpoint_every=2,
                        num_grid_samples=16, progress_bar=False)
    return train.train_and_evaluate(config, str(workdir))
  straight = run(tmp_path / "a", 4)
  run(tmp_path / "b", 2)
  resumed = run(tmp_path / "b", 4)
  chex.assert_trees_all_equal(resumed.trick_state, straight.trick_state)
  chex.assert_trees_all_equal((resumed.g_params, resumed.d_params),
                              (straight.g_params, straight.d_params))
