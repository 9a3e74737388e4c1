"""DiffAugment: exact transforms, their gradients, and the trick on every input D sees."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import seed004_mlp, toy_ring
from gan_jax import augment, config_checks, data, steps, train, tricks
from gan_jax.errors import ConfigError
from gan_jax.state import create_state


def _distinct_images(batch, h, w, c=1):
  """[B, H, W, C] of distinct positive values (no pixel is 0)."""
  return jnp.arange(1, batch * h * w * c + 1, dtype=jnp.float32).reshape(batch, h, w, c)


def _reference_translate(image, dy, dx):
  """np.roll of one image [H, W, C] by (dy, dx), the rows and columns that wrapped set to 0."""
  out = np.roll(np.asarray(image), (dy, dx), axis=(0, 1))
  if dy > 0:
    out[:dy] = 0
  elif dy < 0:
    out[dy:] = 0
  if dx > 0:
    out[:, :dx] = 0
  elif dx < 0:
    out[:, dx:] = 0
  return out


def _recover_shifts(x, y, m):
  """For each image, the offsets (dy, dx) in [-m, m]^2 whose reference
  translation of x[b] is exactly y[b]."""
  x, y = np.asarray(x), np.asarray(y)
  return [[(dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)
           if np.array_equal(_reference_translate(x[b], dy, dx), y[b])] for b in range(len(x))]


# --- sizes and identity ----------------------------------------------------------------------


def test_sizes_round_half_up_as_diffaugment():
  assert augment.max_shift(28, strength=1.0) == 4  # int(28 * 0.125 + 0.5)
  assert augment.max_shift(32, strength=1.0) == 4
  assert augment.max_shift(28, strength=2.0) == 7
  assert augment.cutout_size(28, strength=1.0) == 14
  assert augment.cutout_size(16, strength=0.375) == 3
  assert augment.max_shift(28, strength=0.0) == augment.cutout_size(28, strength=0.0) == 0


@pytest.mark.parametrize("policies", [("translation",), ("cutout",), ("color",),
                                      ("color", "translation", "cutout")])
def test_strength_zero_is_the_identity_bit_for_bit(policies):
  x = jax.random.uniform(jax.random.key(0), (8, 12, 10, 3), minval=-1.0, maxval=1.0)
  out = augment.diffaugment(x, policies=policies, strength=0.0, key=jax.random.key(1))
  np.testing.assert_array_equal(np.asarray(out).view(np.uint32), np.asarray(x).view(np.uint32))
  moved = augment.diffaugment(x, policies=policies, strength=1.0, key=jax.random.key(1))
  assert not np.array_equal(moved, x)


# --- translation -----------------------------------------------------------------------------


def test_translate_is_np_roll_with_the_wrapped_pixels_zeroed():
  x = _distinct_images(6, 5, 7, 2)
  shift = np.array([[1, -2], [0, 0], [-3, 1], [2, 3], [-1, -1], [5, 0]])
  out = np.asarray(augment.translate(x, shift=jnp.asarray(shift)))
  for b, (dy, dx) in enumerate(shift):
    np.testing.assert_array_equal(out[b], _reference_translate(x[b], dy, dx))
  assert not out[5].any()  # moved by the whole height: nothing is left
  np.testing.assert_array_equal(out[0, 1, :5, 0], np.asarray(x)[0, 0, 2:, 0])  # by hand


def test_random_translation_moves_each_image_by_its_drawn_offset():
  x = _distinct_images(200, 16, 16)
  key = jax.random.key(3)
  out = augment.diffaugment(x, policies=("translation",), strength=1.0, key=key)
  m = augment.max_shift(16, strength=1.0)
  assert m == 2
  found = _recover_shifts(x, out, m)
  assert all(len(f) == 1 for f in found)  # each image is exactly one translation of itself
  shifts = [f[0] for f in found]
  assert set(shifts) == {(dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)}
  # The drawn offsets: the policy's U[0, 1] draws through randint.
  u = jax.scipy.special.ndtr(jax.random.normal(jax.random.fold_in(key, 0), (200, 2)))
  drawn = np.asarray(augment.randint(u, low=-m, high=m))
  assert [tuple(int(v) for v in s) for s in drawn] == shifts
  for b, (dy, dx) in enumerate(shifts):  # the values kept are the window's, nothing else
    kept = np.asarray(out[b])
    window = np.asarray(x[b])[max(0, -dy):16 - max(0, dy), max(0, -dx):16 - max(0, dx)]
    np.testing.assert_array_equal(np.sort(kept[kept != 0]), np.sort(window.ravel()))
    assert (kept == 0).sum() == 16 * 16 - window.size


# --- cutout ----------------------------------------------------------------------------------


def test_cut_out_zeroes_exactly_the_square_by_hand():
  x = _distinct_images(2, 9, 9)
  out = np.asarray(augment.cut_out(x, centre=jnp.array([[4, 5], [0, 8]]), size=(3, 3)))
  expected = np.asarray(x).copy()
  expected[0, 3:6, 4:7] = 0
  expected[1, 0:2, 7:9] = 0  # the square about (0, 8), clipped to the image
  np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("strength,side", [(0.5, 4), (0.375, 3)])
def test_random_cutout_zeroes_one_square_of_the_right_side(strength, side):
  x = _distinct_images(300, 16, 16, 2)
  out = np.asarray(augment.diffaugment(x, policies=("cutout",), strength=strength,
                                       key=jax.random.key(5)))
  assert augment.cutout_size(16, strength=strength) == side
  full, tops = 0, set()
  for b in range(len(x)):
    zero = out[b] == 0
    assert (zero == zero[..., :1]).all()  # every channel of a pixel alike
    rows, cols = np.nonzero(zero[..., 0].any(axis=1))[0], np.nonzero(zero[..., 0].any(axis=0))[0]
    assert len(rows) and len(cols)
    assert (np.diff(rows) == 1).all() and (np.diff(cols) == 1).all()
    rectangle = np.zeros((16, 16), bool)
    rectangle[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
    np.testing.assert_array_equal(zero[..., 0], rectangle)  # exactly a rectangle is zero
    np.testing.assert_array_equal(out[b][~zero], np.asarray(x[b])[~zero])  # the rest is x
    assert len(rows) <= side and len(cols) <= side
    inside = 0 < rows[0] and rows[-1] < 15 and 0 < cols[0] and cols[-1] < 15
    if inside:  # away from the border: the whole square
      assert len(rows) == len(cols) == side
      full += 1
      tops.add(int(rows[0]))
  assert full > 100 and len(tops) > 5


# --- colour ----------------------------------------------------------------------------------


def test_adjust_color_matches_diffaugments_formulas():
  x = jax.random.uniform(jax.random.key(0), (3, 4, 5, 3), minval=-1.0, maxval=1.0)
  b, s, c = jnp.array([0.2, -0.4, 0.0]), jnp.array([1.5, 0.3, 1.0]), jnp.array([0.7, 1.2, 1.0])
  out = augment.adjust_color(x, brightness=b, saturation=s, contrast=c)
  y = np.asarray(x) + np.asarray(b)[:, None, None, None]
  mean = y.mean(axis=3, keepdims=True)
  y = (y - mean) * np.asarray(s)[:, None, None, None] + mean
  mean = y.mean(axis=(1, 2, 3), keepdims=True)
  y = (y - mean) * np.asarray(c)[:, None, None, None] + mean
  np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-6)


# --- gradients -------------------------------------------------------------------------------


def test_gradients_are_the_transform_of_the_weights():
  x = jax.random.normal(jax.random.key(0), (4, 8, 8, 2))
  w = jax.random.normal(jax.random.key(1), x.shape)
  shift = jnp.array([[1, -2], [0, 3], [-3, -1], [2, 0]])
  grad = jax.grad(lambda v: jnp.sum(w * augment.translate(v, shift=shift)))(x)
  np.testing.assert_array_equal(grad, augment.translate(w, shift=-shift))  # the adjoint shift
  centre, size = jnp.array([[3, 3], [0, 7], [5, 1], [7, 7]]), (3, 4)
  grad = jax.grad(lambda v: jnp.sum(w * augment.cut_out(v, centre=centre, size=size)))(x)
  np.testing.assert_array_equal(grad, augment.cut_out(w, centre=centre, size=size))
  assert (grad == 0).sum() > 0 and (grad != 0).sum() > 0


@pytest.mark.slow
@pytest.mark.parametrize("policies", [("translation", "cutout"), ("color",)])
def test_gradient_matches_finite_differences(policies):
  x = jax.random.uniform(jax.random.key(0), (3, 8, 8, 3), minval=-1.0, maxval=1.0)
  w = jax.random.normal(jax.random.key(1), x.shape)
  f = lambda v: jnp.sum(w * augment.diffaugment(v, policies=policies, strength=1.0,
                                                key=jax.random.key(2)))
  grad = jax.grad(f)(x)
  assert np.abs(np.asarray(grad)).sum() > 0
  h = 1e-2
  for i in range(3):
    v = jax.random.normal(jax.random.key(10 + i), x.shape)
    fd = (f(x + h * v) - f(x - h * v)) / (2 * h)
    np.testing.assert_allclose(fd, jnp.sum(grad * v), rtol=2e-3, atol=2e-3)
  if policies == ("translation", "cutout"):  # linear: the gradient is the output's weight map
    np.testing.assert_allclose(jnp.sum(grad * x), f(x), rtol=1e-5)


@pytest.mark.slow
def test_jit_and_vmap_agree_with_the_eager_transform():
  x = jax.random.uniform(jax.random.key(0), (4, 10, 10, 1), minval=-1.0, maxval=1.0)
  fn = lambda v, k: augment.diffaugment(v, policies=("color", "translation", "cutout"),
                                        strength=1.0, key=k)
  key = jax.random.key(7)
  np.testing.assert_allclose(jax.jit(fn)(x, key), fn(x, key), rtol=1e-6, atol=1e-6)
  keys = jax.random.split(key, 3)
  batched = jax.vmap(fn, in_axes=(None, 0))(x, keys)
  for i in range(3):
    np.testing.assert_allclose(batched[i], fn(x, keys[i]), rtol=1e-6, atol=1e-6)
  assert not np.allclose(batched[0], batched[1])


# --- the trick inside the train step ---------------------------------------------------------


def _mlp_config(policies):
  config = seed004_mlp.get_config("vanilla,mnist_5k,runlocal")
  config.tricks.diffaugment = policies
  config.eval.every_steps = 0
  return config


def test_step_translates_every_input_d_sees_real_and_fake(monkeypatch):
  """D's real and fake passes in its update and the fake pass in G's each see
  their own translation of their 4-D input; D's logits change with the trick."""
  config = _mlp_config("translation")
  calls = []
  original = augment.diffaugment

  def recording(x, **kwargs):
    out = original(x, **kwargs)
    assert x.shape == (8, 28, 28, 1)  # the MLP's images, not flattened
    jax.debug.callback(lambda a, b: calls.append((np.asarray(a), np.asarray(b))), x, out)
    return out
  monkeypatch.setattr(augment, "diffaugment", recording)
  state = create_state(config, sample_shape=(28, 28, 1))
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  _, metrics = jax.jit(steps.make_train_step(config))(state, batch)
  jax.effects_barrier()
  real = np.asarray(batch[0])
  assert len(calls) == 3  # non-saturating: D's real and fake passes, G's fake pass
  real_calls = [c for c in calls if np.array_equal(c[0], real)]
  fake_calls = [c for c in calls if not np.array_equal(c[0], real)]
  assert len(real_calls) == 1 and len(fake_calls) == 2
  m = augment.max_shift(28, strength=1.0)
  shifts = []
  for x_in, x_out in calls:
    found = _recover_shifts(x_in, x_out, m)
    assert all(len(f) == 1 for f in found)  # each image is one translation of itself
    shifts.append([f[0] for f in found])
    assert any(s != (0, 0) for s in shifts[-1])
  assert shifts[0] != shifts[1] != shifts[2]  # independent draws per pass
  plain_config = _mlp_config("")
  _, plain = jax.jit(steps.make_train_step(plain_config))(state, batch)
  assert float(metrics["d/real_logits"]) != float(plain["d/real_logits"])
  assert float(metrics["d/fake_logits"]) != float(plain["d/fake_logits"])


@pytest.mark.slow
def test_training_smoke_mlp_on_mnist_5k(tmp_path):
  config = _mlp_config("translation,cutout")
  state = train.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 4
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  train_rows = [r for r in rows if "d/loss" in r]
  assert [r["step"] for r in train_rows] == [2, 4]
  assert all(np.isfinite(r["d/loss"]) and np.isfinite(r["g/loss"]) for r in train_rows)
  assert json.load(open(tmp_path / "config.json"))["tricks"]["diffaugment"] == "translation,cutout"


# --- config ----------------------------------------------------------------------------------


def test_policy_names_and_strength_are_checked():
  assert tuple(augment.POLICIES) == config_checks.DIFFAUGMENT_POLICIES
  assert augment.parse_policies("") == ()
  assert augment.parse_policies("color, translation,cutout") == ("color", "translation", "cutout")
  for bad in ("translate", "translation,", "translation,blur", " "):
    config = _mlp_config(bad)
    with pytest.raises(ConfigError, match="config.tricks.diffaugment must be a comma-separated "
                       "list of 'color', 'translation', 'cutout'") as err:
      steps.make_train_step(config)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)
  config = _mlp_config("translation")
  config.tricks.diffaugment_strength = -0.5
  with pytest.raises(ValueError, match="config.tricks.diffaugment_strength must be a finite "
                     "number >= 0"):
    steps.make_train_step(config)
  on = lambda value: [t.name for t in tricks.enabled(
      {**_mlp_config(value).tricks.to_dict()}, "input_transform")]
  assert on("") == [] and on("cutout") == ["diffaugment"]


def test_non_image_inputs_are_refused():
  with pytest.raises(ConfigError, match=r"transforms images \[B, H, W, C\].*\(16, 2\)"):
    augment.diffaugment(jnp.zeros((16, 2)), policies=("translation",), strength=1.0,
                        key=jax.random.key(0))
  config = toy_ring.get_config()
  config.tricks.diffaugment = "translation"
  state = create_state(config, sample_shape=(2,))
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  with pytest.raises(ConfigError, match=r"images \[B, H, W, C\]"):
    steps.make_train_step(config)(state, batch)


def test_feature_matching_compares_features_of_augmented_reals_and_fakes(monkeypatch):
  """With feature matching, G's loss reads D's features of a real batch too: it
  passes through the same transform as every other D input (2 real passes)."""
  config = _mlp_config("translation")
  config.tricks.feature_matching = True
  calls = []
  original = augment.diffaugment

  def recording(x, **kwargs):
    out = original(x, **kwargs)
    jax.debug.callback(lambda a: calls.append(np.asarray(a)), x)
    return out
  monkeypatch.setattr(augment, "diffaugment", recording)
  state = create_state(config, sample_shape=(28, 28, 1))
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  jax.jit(steps.make_train_step(config))(state, batch)
  jax.effects_barrier()
  real = np.asarray(batch[0])
  assert len(calls) == 4  # D's real and fake, G's fake and the real batch of its features
  assert sum(np.array_equal(c, real) for c in calls) == 2
