"""CycleGAN (gan_jax/cyclegan): losses against closed forms, the networks'
shapes and per-example independence, D training on pooled fakes, and a
runlocal run: grid, checkpoints, bit-exact resume, refused config change; the
shared run loop's guards and config history, and the trainer registry."""

import json
import os
import shutil
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from experiments import cyclegan_fashion_mnist
from gan_jax import trainers, tricks, writers
from gan_jax.configs import base
from gan_jax.cyclegan import data, evaluate, losses, models, steps, train
from gan_jax.cyclegan.state import create_state
from gan_jax.errors import ConfigError, StateOutOfBoundsError


def _random(shape, seed):
  return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


def _runlocal():
  return cyclegan_fashion_mnist.get_config("runlocal")


# --- losses -------------------------------------------------------------------------------


def test_cycle_and_identity_losses_of_identity_maps_are_zero():
  x, y = _random((5, 28, 28, 1), 0), _random((5, 28, 28, 1), 1)
  g = f = lambda images: images
  np.testing.assert_array_equal(
      losses.cycle_loss(real_a=x, cycled_a=f(g(x)), real_b=y, cycled_b=g(f(y))), np.zeros(5))
  np.testing.assert_array_equal(
      losses.identity_loss(real_a=x, same_a=f(x), real_b=y, same_b=g(y)), np.zeros(5))
  # ... and not zero for a map that moves one image of one domain.
  moved = x.copy()
  moved[2] += 0.5
  cycle = losses.cycle_loss(real_a=x, cycled_a=moved, real_b=y, cycled_b=y)
  np.testing.assert_allclose(cycle, [0, 0, 0.5, 0, 0], atol=1e-6)


def test_each_loss_equals_its_formula_on_random_inputs():
  b = 6
  real_logits, fake_logits = _random((b, 7, 7), 2) * 3, _random((b, 7, 7), 3) * 3
  x, y, x2, y2 = (_random((b, 28, 28, 1), s) for s in (4, 5, 6, 7))
  r, f = real_logits.reshape(b, -1).astype(np.float64), fake_logits.reshape(b, -1)
  np.testing.assert_allclose(
      losses.lsgan_d_loss(real_logits=real_logits, fake_logits=fake_logits),
      0.5 * (((r - 1) ** 2).mean(1) + (f.astype(np.float64) ** 2).mean(1)), rtol=1e-5)
  np.testing.assert_allclose(losses.lsgan_g_loss(fake_logits=fake_logits),
                             ((f.astype(np.float64) - 1) ** 2).mean(1), rtol=1e-5)
  l1 = lambda p, q: np.abs(p.astype(np.float64) - q).reshape(b, -1).mean(1)
  np.testing.assert_allclose(losses.cycle_loss(real_a=x, cycled_a=x2, real_b=y, cycled_b=y2),
                             l1(x2, x) + l1(y2, y), rtol=1e-5)
  np.testing.assert_allclose(losses.identity_loss(real_a=x, same_a=x2, real_b=y, same_b=y2),
                             l1(x2, x) + l1(y2, y), rtol=1e-5)


def test_losses_reject_mismatched_shapes():
  with pytest.raises(ValueError, match="one shape"):
    losses.lsgan_d_loss(real_logits=jnp.zeros((4, 7, 7)), fake_logits=jnp.zeros((4, 6, 6)))
  with pytest.raises(ValueError, match="batch sizes differ"):
    losses.cycle_loss(real_a=jnp.zeros((4, 8, 8, 1)), cycled_a=jnp.zeros((4, 8, 8, 1)),
                      real_b=jnp.zeros((3, 8, 8, 1)), cycled_b=jnp.zeros((3, 8, 8, 1)))


# --- models and data ----------------------------------------------------------------------


@pytest.mark.slow
def test_networks_shapes_range_and_per_example_independence():
  x = jnp.asarray(_random((3, 28, 28, 1), 8))
  g = models.ResnetGenerator(features=4, num_res_blocks=1)
  d = models.PatchDiscriminator(features=4)
  g_params, d_params = g.init(jax.random.PRNGKey(0), x), d.init(jax.random.PRNGKey(1), x)
  g_apply, d_apply = jax.jit(g.apply), jax.jit(d.apply)
  out, logits = g_apply(g_params, x), d_apply(d_params, x)
  assert out.shape == x.shape and logits.shape == (3, 7, 7)
  assert float(jnp.abs(out).max()) < 1.0
  # Instance norm: an example's output does not depend on the rest of the batch.
  np.testing.assert_allclose(g_apply(g_params, x[:1]), out[:1], atol=1e-5)
  np.testing.assert_allclose(d_apply(d_params, x[:1]), logits[:1], atol=1e-5)
  with pytest.raises(ValueError, match="not divisible"):
    g.apply(g_params, jnp.zeros((1, 30, 30, 1)))


def test_domain_of_selects_classes_and_names_the_valid_labels():
  images = np.arange(6)[:, None, None, None] * np.ones((6, 2, 2, 1), np.uint8)
  labels = np.array([0, 7, 9, 7, 1, 9], np.int32)
  picked = data.domain_of(images, labels, classes=(7, 1), where="data.domain_a")
  np.testing.assert_array_equal(picked[:, 0, 0, 0], [1, 3, 4])
  with pytest.raises(ValueError, match=r"labels present, \[0, 1, 7, 9\]"):
    data.domain_of(images, labels, classes=(12,), where="data.domain_a")


@pytest.mark.slow
def test_fresh_state_is_a_function_of_the_seed():
  config = _runlocal()
  one, two = (create_state(config, sample_shape=(28, 28, 1)) for _ in range(2))
  chex.assert_trees_all_equal(jax.tree.leaves(one), jax.tree.leaves(two))  # static fields differ
  config.seed = 1
  other = create_state(config, sample_shape=(28, 28, 1))
  assert not np.array_equal(other.rng, one.rng)
  assert not np.array_equal(other.g_params["Conv_0"]["kernel"], one.g_params["Conv_0"]["kernel"])
  assert not np.array_equal(one.g_params["Conv_0"]["kernel"], one.f_params["Conv_0"]["kernel"])


def test_translation_scores_of_a_class_flipping_map():
  # The "classifier" says 9 (domain B) for a bright image and 7 (A) for a dark one;
  # G and F negate, so they flip every image's class and undo each other.
  classify = lambda x: np.eye(10)[np.where(x.reshape(len(x), -1).mean(1) > 0, 9, 7)]
  translate = lambda a, b: {"a": a, "g_a": -a, "f_g_a": a, "b": b, "f_b": -b, "g_f_b": b}
  images_a = np.full((7, 4, 4, 1), -0.5, np.float32)
  images_a[0] = 0.25  # one A image the classifier puts in B
  images_b = np.full((3, 4, 4, 1), 0.5, np.float32)
  scores = evaluate.translation_scores(images_a=images_a, images_b=images_b,
                                       translate=translate, classify=classify,
                                       classes_a=(7,), classes_b=(9,), batch_size=2)
  assert scores == pytest.approx({
      "translated_a_in_b": 6 / 7, "translated_b_in_a": 1.0, "real_a_in_b": 1 / 7,
      "real_b_in_a": 0.0, "real_a_in_a": 6 / 7, "real_b_in_b": 1.0, "cycle_l1_a": 0.0,
      "cycle_l1_b": 0.0, "change_l1_a": (6 * 1.0 + 0.5) / 7, "change_l1_b": 1.0})


# --- the step: D trains on pooled fakes ---------------------------------------------------


@pytest.mark.slow
def test_discriminator_trains_on_the_pool_share_of_stored_fakes():
  config = _runlocal()
  b, size = config.data.batch_size, config.pool.size
  m = tricks.pool_draws(b, tricks={"fake_pool_share": config.pool.share})
  assert 0 < m < b
  state = create_state(config, sample_shape=(28, 28, 1))
  # A full pool of D_Y of images no generator makes (constant value per entry).
  levels = np.linspace(-0.9, 0.9, size, dtype=np.float32)
  stored = np.broadcast_to(levels[:, None, None, None], (size, 28, 28, 1)).copy()
  pools = dict(state.pools, d_y={"images": jnp.asarray(stored),
                                 "count": jnp.asarray(size, jnp.int32)})
  state = state.replace(pools=pools)
  batch_a, batch_b = (jnp.asarray(_random((b, 28, 28, 1), s)) for s in (9, 10))
  fresh = np.asarray(state.generator.apply({"params": state.g_params}, batch_a))  # G(x)
  step = jax.jit(steps.make_train_step(config))
  new_state, metrics = step(state, batch_a, batch_b)

  new_pool = np.asarray(new_state.pools["d_y"]["images"])
  changed = np.flatnonzero(np.abs(new_pool - stored).reshape(size, -1).max(1) > 0)
  assert len(changed) == m  # m stored fakes swapped out for m fresh ones
  d_batch = fresh.copy()
  for i in changed:
    j = int(np.argmin(np.abs(fresh[:m] - new_pool[i]).reshape(m, -1).max(1)))
    np.testing.assert_allclose(new_pool[i], fresh[j], atol=1e-5)  # the fresh fake went in
    d_batch[j] = stored[i]  # and the stored one came out into D's batch
  d_apply = lambda x: state.discriminator.apply({"params": state.d_y_params}, x)
  expected = losses.lsgan_d_loss(real_logits=d_apply(batch_b), fake_logits=d_apply(d_batch))
  np.testing.assert_allclose(metrics["d_y/loss"], expected.mean(), rtol=1e-5)
  fresh_only = losses.lsgan_d_loss(real_logits=d_apply(batch_b), fake_logits=d_apply(fresh))
  assert abs(float(fresh_only.mean()) - float(expected.mean())) > 1e-3
  assert int(new_state.step) == 1 and float(metrics["pool/filled"]) == size


# --- the run --------------------------------------------------------------------------------


def _grid_tiles(path, n, rows=6, size=28, pad=2):
  """The PNG's tiles as [rows, n, size, size] uint8 (undoing the scale)."""
  scale = train.GRID_SCALE
  grid = np.asarray(Image.open(path))[::scale, ::scale]
  assert grid.shape == (rows * (size + pad) + pad, n * (size + pad) + pad)
  return np.stack([[grid[pad + r * (size + pad):pad + r * (size + pad) + size,
                         pad + c * (size + pad):pad + c * (size + pad) + size]
                    for c in range(n)] for r in range(rows)])


@pytest.mark.slow
def test_runlocal_run_writes_grid_checkpoints_and_resumes_bit_identically(tmp_path):
  config = _runlocal()
  straight = str(tmp_path / "straight")
  final = train.train_and_evaluate(config, straight)
  assert int(final.step) == config.train.num_steps == 6
  assert sorted(os.listdir(os.path.join(straight, "checkpoints"))) == ["3", "6"]
  assert sorted(os.listdir(os.path.join(straight, "samples"))) == [
      "translation_000003.png", "translation_000006.png"]
  rows = writers.read_metrics(straight)
  assert [r["step"] for r in rows] == [2, 4, 6]
  assert all(np.isfinite(r["g/loss"]) and np.isfinite(r["d_y/loss"]) for r in rows)
  assert json.load(open(os.path.join(straight, "config.json")))["pool"]["size"] == 6

  # The grid: rows input A, G(A), F(G(A)), input B, F(B), G(F(B)) of the fixed test images.
  domains = data.load_domains(config.data)
  n = config.data.num_grid_images
  tiles = _grid_tiles(os.path.join(straight, "samples", "translation_000006.png"), n)
  expected = jax.device_get(steps.translate(final, domains.grid_a, domains.grid_b))
  for r, key in enumerate(("a", "g_a", "f_g_a", "b", "f_b", "g_f_b")):
    pixels = np.clip(np.round((expected[key][..., 0] + 1) * 127.5), 0, 255)
    np.testing.assert_allclose(tiles[r], pixels, atol=1)

  # A crash after the step-3 checkpoint: the resumed run equals the uninterrupted one.
  resumed = str(tmp_path / "resumed")
  shutil.copytree(straight, resumed)
  shutil.rmtree(os.path.join(resumed, "checkpoints", "6"))
  again = train.train_and_evaluate(config, resumed)
  chex.assert_trees_all_equal(
      [again.g_params, again.f_params, again.d_x_params, again.d_y_params, again.gen_opt_state,
       again.disc_opt_state, again.pools, again.rng, again.step],
      [final.g_params, final.f_params, final.d_x_params, final.d_y_params, final.gen_opt_state,
       final.disc_opt_state, final.pools, final.rng, final.step])
  assert writers.reproducible(writers.read_metrics(resumed)) == writers.reproducible(rows)

  # Resuming with a config that trains differently is refused before anything is written.
  changed = _runlocal()
  changed.loss.cycle_weight = 5.0
  changed.train.num_steps = 9
  with pytest.raises(ConfigError, match=r"loss.cycle_weight: 10.0 -> 5.0"):
    train.train_and_evaluate(changed, resumed)


def test_the_config_names_its_trainer_and_an_unknown_one_is_refused():
  assert trainers.trainer_of(_runlocal()).name == "cyclegan"
  assert trainers.trainer_of(base.get_config()).name == "gan"
  bad = base.get_config()
  bad.trainer = "cyclegn"
  with pytest.raises(ConfigError, match="Unknown trainer 'cyclegn'; valid choices: cyclegan, gan"):
    trainers.trainer_of(bad)


@pytest.mark.slow
def test_cyclegan_runs_the_shared_guards_and_keeps_a_changed_config_in_history(tmp_path):
  tiny_bound = _runlocal()
  tiny_bound.train.max_param_magnitude = 1e-3  # below the initial weights
  with pytest.raises(StateOutOfBoundsError, match="max_param_magnitude = 0.001"):
    trainers.train_and_evaluate(tiny_bound, str(tmp_path / "bounded"))
  assert not os.listdir(tmp_path / "bounded" / "checkpoints")

  short = _runlocal()
  short.train.num_steps = 3
  trainers.train_and_evaluate(short, str(tmp_path / "run"))
  changed = _runlocal()
  changed.loss.cycle_weight = 5.0
  state = trainers.train_and_evaluate(changed, str(tmp_path / "run"), allow_config_change=True)
  assert int(state.step) == 6
  kept = tmp_path / "run" / "config_history" / "config_step_3.json"
  assert json.load(open(kept))["loss"]["cycle_weight"] == 10.0
  assert json.load(open(tmp_path / "run" / "config.json"))["loss"]["cycle_weight"] == 5.0


@pytest.mark.slow
def test_launch_trains_cyclegan_from_its_config(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  workdir = tmp_path / "run"
  out = subprocess.run([sys.executable, os.path.join(root, "launch.py"),
                        "--config=experiments/cyclegan_fashion_mnist.py:runlocal",
                        f"--workdir={workdir}", "--config.train.num_steps=3"],
                       cwd=root, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "Config: gan_jax/configs/cyclegan.py with" in out.stderr
  assert "train.num_steps = 3" in out.stderr
  assert os.listdir(workdir / "checkpoints") == ["3"]
  assert [r["step"] for r in writers.read_metrics(str(workdir))] == [2, 3]
