"""Class-conditional GANs: the projection term, AC-GAN's class losses, labels
through the data and the step, per-class sampling and metrics, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import conditional
from gan_jax import conditioning, data, evaluation, models, sample, steps
from gan_jax.models.mlp import MLPDiscriminator
from gan_jax.state import create_state


def _small(method="acgan", **changes):
  """A tiny MLP pair on 64 labelled digits (mnist_5k), no dropout."""
  config = conditional.get_config(f"{method},mnist_5k")
  config.model = models.model_config("mlp", latent_dim=8, g_hidden=(16,), d_hidden=(16,),
                                     dropout_rate=0.0)
  config.dataset.update(batch_size=8, num_train_examples=64)
  for key, value in changes.items():
    section, field = key.split(".")
    config[section][field] = value
  return config


def _numpy_cross_entropy(logits, labels):
  logits = np.asarray(logits, np.float64)
  log_softmax = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1,
                                keepdims=True)) - logits.max(-1, keepdims=True)
  return -log_softmax[np.arange(len(labels)), labels]


def test_projection_term_equals_its_closed_form():
  inner = MLPDiscriminator(hidden=(6,), dropout_rate=0.0)
  d = conditioning.ConditionalDiscriminator(inner, num_classes=3, projection=True,
                                            classifier=False)
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
  y = jnp.array([0, 1, 2, 1, 0])
  params = d.init(jax.random.PRNGKey(1), x, y, train=False)["params"]
  logits, class_logits = d.apply({"params": params}, x, y, train=False)
  assert class_logits is None
  psi, phi = inner.apply({"params": params["inner"]}, x, train=False, with_features=True)
  embed = np.asarray(params["embed"]["embedding"])  # [C, F]
  expected = np.asarray(psi) + np.sum(embed[np.asarray(y)] * np.asarray(phi), axis=-1)
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
  # The label matters: another class moves each logit by <e_y' - e_y, phi(x)>.
  other, _ = d.apply({"params": params}, x, (y + 1) % 3, train=False)
  shift = np.sum((embed[(np.asarray(y) + 1) % 3] - embed[np.asarray(y)]) * np.asarray(phi), -1)
  np.testing.assert_allclose(np.asarray(other) - np.asarray(logits), shift, rtol=1e-4, atol=1e-6)
  assert np.abs(shift).max() > 1e-4


def test_acgan_class_losses_are_cross_entropies_of_the_right_labels():
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
  labels = np.array([0, 3, 1, 2, 3, 0])
  d_loss = conditioning.acgan_d_class_loss(real_class_logits=jnp.asarray(real),
                                           fake_class_logits=jnp.asarray(fake),
                                           labels=jnp.asarray(labels))
  np.testing.assert_allclose(d_loss, _numpy_cross_entropy(real, labels)
                             + _numpy_cross_entropy(fake, labels), rtol=1e-5)
  g_loss = conditioning.acgan_g_class_loss(fake_class_logits=jnp.asarray(fake),
                                           labels=jnp.asarray(labels))
  np.testing.assert_allclose(g_loss, _numpy_cross_entropy(fake, labels), rtol=1e-5)
  shuffled = conditioning.acgan_g_class_loss(fake_class_logits=jnp.asarray(fake),
                                             labels=jnp.asarray((labels + 1) % 4))
  assert not np.allclose(shuffled, g_loss)
  with pytest.raises(ValueError, match="labels"):
    conditioning.class_cross_entropy(class_logits=jnp.zeros((3, 4)), labels=jnp.zeros((2,), int))


@pytest.mark.slow
def test_the_step_adds_acgan_class_loss_of_the_batch_labels_on_real_and_fake():
  config = _small("acgan", **{"conditioning.class_loss_weight": 0.7})
  dataset = data.get_dataset(config.dataset)
  state = create_state(config, sample_shape=dataset.sample_shape)
  images, labels = dataset.batch_at(0, seed=0, num_critic_steps=1, with_labels=True)
  real, labels = jnp.asarray(images[0]), jnp.asarray(labels[0])
  spec = steps.StepSpec.from_config(config)
  key = jax.random.PRNGKey(3)
  loss, (_, _, _, fake, metrics) = steps.d_objective(spec, state, state.d_params,
                                                     state.g_params, real, key, labels=labels)
  variables = {"params": state.d_params}
  _, real_class = state.discriminator.apply(variables, real, labels, train=True)
  fake_logits, fake_class = state.discriminator.apply(variables, fake, labels, train=True)
  real_logits, _ = state.discriminator.apply(variables, real, labels, train=True)
  class_loss = np.mean(_numpy_cross_entropy(real_class, np.asarray(labels))
                       + _numpy_cross_entropy(fake_class, np.asarray(labels)))
  adversarial = np.mean(jax.nn.softplus(-real_logits) + jax.nn.softplus(fake_logits))
  np.testing.assert_allclose(metrics["d/class_loss"], class_loss, rtol=1e-5)
  np.testing.assert_allclose(loss, adversarial + 0.7 * class_loss, rtol=1e-5)
  # The fakes were asked for the batch's labels: G(z, labels) with the latents stream.
  z = steps._latents(spec, steps.named_keys(key, steps.D_OBJECTIVE_STREAMS)["latents"], 8)
  expected = state.generator.apply({"params": state.g_params, "batch_stats": state.g_batch_stats},
                                   z, labels, train=True, mutable=["batch_stats"])[0]
  np.testing.assert_allclose(fake, expected, rtol=1e-6)
  # G's loss carries its class term too.
  g_keys = steps.named_keys(key, steps.G_OBJECTIVE_STREAMS)
  g_loss = steps.g_loss_of_fakes(spec, state, fake, state.d_params, real, g_keys, labels)
  expected_g = np.mean(jax.nn.softplus(-fake_logits)) + 0.7 * np.mean(
      _numpy_cross_entropy(fake_class, np.asarray(labels)))
  np.testing.assert_allclose(g_loss, expected_g, rtol=1e-5)


@pytest.mark.slow
def test_projection_gan_trains_with_labels_and_the_class_logits_stay_out_of_its_loss():
  config = _small("projection")
  dataset = data.get_dataset(config.dataset)
  state = create_state(config, sample_shape=dataset.sample_shape)
  step = jax.jit(steps.make_train_step(config))
  before = state.d_params["embed"]["embedding"]
  for i in range(2):
    state, metrics = step(state, dataset.batch_at(i, seed=0, num_critic_steps=1,
                                                  with_labels=True))
  assert "d/class_loss" not in metrics and np.isfinite(float(metrics["d/loss"]))
  assert not np.allclose(state.d_params["embed"]["embedding"], before)  # the embedding learns
  with pytest.raises(ValueError, match="class-conditional step takes batches"):
    step(state, dataset.batch_at(0, seed=0, num_critic_steps=1))


def test_conditional_sampling_is_deterministic_per_class():
  config = _small("projection")
  state = create_state(config, sample_shape=(28, 28, 1))
  z = jax.random.normal(jax.random.PRNGKey(0), (10, 8))
  labels = jnp.arange(10) % 10
  a = state.generate(z, labels, use_running_average=True)
  np.testing.assert_array_equal(a, state.generate(z, labels, use_running_average=True))
  # Each sample depends on its own (z, y) only: class 3 alone gives the same image.
  alone = state.generate(z[3:4], labels[3:4], use_running_average=True)
  np.testing.assert_allclose(alone[0], a[3], rtol=1e-5, atol=1e-6)
  # Another class gives another image for the same latent.
  assert not np.allclose(state.generate(z, (labels + 1) % 10, use_running_average=True), a)
  with pytest.raises(ValueError, match="class-conditional: pass labels"):
    state.generate(z)
  # Grids: one class per row of a 10 x 10 grid; exports ask the same.
  np.testing.assert_array_equal(conditioning.grid_labels(100, 10), np.repeat(np.arange(10), 10))
  np.testing.assert_array_equal(sample.sample_labels(config, 4, label=7), [7, 7, 7, 7])
  with pytest.raises(ValueError, match="--label=10"):
    sample.sample_labels(config, 4, label=10)


def test_batches_carry_the_labels_of_their_images():
  config = _small()
  dataset = data.get_dataset(config.dataset)
  images, labels = dataset.batch_at(5, seed=1, num_critic_steps=2, with_labels=True)
  np.testing.assert_array_equal(images, dataset.batch_at(5, seed=1, num_critic_steps=2))
  assert labels.shape == (2, 8) and labels.dtype == np.int32
  flat = data.scale_images(dataset.train_images).reshape(64, -1)
  for image, label in zip(images.reshape(16, -1), labels.reshape(-1)):
    rows = np.flatnonzero((flat == image).all(axis=1))
    assert rows.size and label in dataset.train_labels[rows]
  _, shard_labels = dataset.batch_at(5, seed=1, num_critic_steps=2, shard=(1, 2),
                                     with_labels=True)
  np.testing.assert_array_equal(shard_labels, labels[:, 4:])
  ring = data.get_dataset(_ring_block())
  with pytest.raises(ValueError, match="no class labels"):
    ring.batch_at(0, seed=0, num_critic_steps=1, with_labels=True)


def _ring_block():
  from experiments import toy_ring  # pylint: disable=g-import-not-at-top
  return toy_ring.get_config().dataset


def test_unsupported_combinations_are_one_line_errors():
  with pytest.raises(ValueError, match="unrolled_steps"):
    steps.StepSpec.from_config(_small(**{"tricks.unrolled_steps": 2}))
  with pytest.raises(ValueError, match="fake_pool_size"):
    steps.StepSpec.from_config(_small(**{"tricks.fake_pool_size": 16}))
  with pytest.raises(ValueError, match="conditioning method 'cgan'"):
    steps.StepSpec.from_config(_small(**{"conditioning.method": "cgan"}))


def test_class_metrics_are_per_class_fids_and_the_requested_class_accuracy():
  rng = np.random.default_rng(0)
  real_labels, fake_labels = np.repeat(np.arange(3), 20), np.tile(np.arange(3), 20)
  real = rng.normal(size=(60, 4)) + real_labels[:, None]
  fake = rng.normal(size=(60, 4)) + fake_labels[:, None]
  probs = np.eye(3)[fake_labels]
  probs[:6] = np.eye(3)[(fake_labels[:6] + 1) % 3]  # 6 of 60 classified wrongly
  out = evaluation.class_metrics(real_features=real, real_labels=real_labels,
                                 fake_features=fake, fake_labels=fake_labels, fake_probs=probs,
                                 num_classes=3)
  from gan_jax.metrics import fid  # pylint: disable=g-import-not-at-top
  expected = np.mean([fid.fid(real_features=real[real_labels == c],
                              fake_features=fake[fake_labels == c]) for c in range(3)])
  assert out["intra_fid"] == pytest.approx(expected)
  assert out["class_accuracy"] == pytest.approx(0.9)
  # Samples of the wrong classes are far from their class: a larger intra-FID.
  wrong = evaluation.class_metrics(real_features=real, real_labels=real_labels,
                                   fake_features=fake, fake_labels=(fake_labels + 1) % 3,
                                   fake_probs=None, num_classes=3)
  assert wrong["intra_fid"] > out["intra_fid"] + 1 and "class_accuracy" not in wrong
  with pytest.raises(ValueError, match="class 2 has"):
    evaluation.class_metrics(real_features=real, real_labels=np.minimum(real_labels, 1),
                             fake_features=fake, fake_labels=fake_labels, fake_probs=None,
                             num_classes=3)


@pytest.mark.slow
def test_conditional_run_resumes_bit_exactly_and_writes_a_grid_per_class(tmp_path):
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  config = _small("acgan")
  config.train.update(num_steps=4, log_every=2, sample_every=2, checkpoint_every=2,
                      num_grid_samples=20, progress_bar=False)
  config.eval.every_steps = 0
  straight = train.train_and_evaluate(config, str(tmp_path / "straight"))
  half = config.copy_and_resolve_references()
  half.train.num_steps = 2
  train.train_and_evaluate(half, str(tmp_path / "resumed"))
  resumed = train.train_and_evaluate(config, str(tmp_path / "resumed"))
  assert int(resumed.step) == 4
  for a, b in zip(jax.tree.leaves((straight.g_params, straight.d_params)),
                  jax.tree.leaves((resumed.g_params, resumed.d_params))):
    np.testing.assert_array_equal(a, b)
  assert (tmp_path / "resumed" / "samples" / "step_0000004.png").exists()
