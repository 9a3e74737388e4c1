"""Model shapes and the parameter counts of the seed-000 DCGAN-28."""

import jax
import jax.numpy as jnp
import pytest

from gan_jax.configs import base
from gan_jax import models
from gan_jax.errors import ConfigError
from gan_jax.state import count_params, create_state


def test_dcgan28_parameter_counts_match_the_seed():
  config = base.get_config()
  state = create_state(config, sample_shape=(28, 28, 1))
  assert count_params(state.g_params) == 2_305_472
  assert count_params(state.d_params) == 212_865
  # Keras counts BN moving mean/var too: 2,330,944 in all.
  assert count_params(state.g_params) + count_params(state.g_batch_stats) == 2_330_944
  assert not state.d_batch_stats


@pytest.mark.slow
@pytest.mark.parametrize("name,shape", [("dcgan28", (28, 28, 1)), ("mlp", (28, 28, 1)),
                                        ("mlp", (2,))])
def test_generator_and_discriminator_shapes(name, shape):
  config = models.model_config(name, **(dict(g_hidden=(16,), d_hidden=(16,),
                                             output_activation="none") if shape == (2,) else {}))
  g, d = models.build_models(config, shape)
  z = jnp.ones((3, config.latent_dim))
  g_vars = g.init(jax.random.PRNGKey(0), z, train=False)
  x = g.apply(g_vars, z, train=False)
  assert x.shape == (3, *shape)
  if name == "dcgan28" or shape != (2,):
    assert float(jnp.abs(x).max()) <= 1.0  # tanh output range
  d_vars = d.init(jax.random.PRNGKey(1), x, train=False)
  assert d.apply(d_vars, x, train=False).shape == (3,)


def test_unknown_model_name_lists_valid_choices():
  config = base.get_config().model
  config.name = "dcgan_typo"
  with pytest.raises(ValueError, match="dcgan28.*mlp"):
    models.build_models(config, (28, 28, 1))


def test_dcgan28_refuses_other_image_sizes():
  with pytest.raises(ValueError, match="28x28x1"):
    models.build_models(base.get_config().model, (32, 32, 3))


@pytest.mark.slow
def test_dropout_is_active_only_in_train_mode():
  g, d = models.build_models(base.get_config().model, (28, 28, 1))
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 28, 28, 1))
  variables = d.init(jax.random.PRNGKey(1), x, train=False)
  eval_a = d.apply(variables, x, train=False)
  eval_b = d.apply(variables, x, train=False)
  train_a = d.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(2)})
  train_b = d.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(3)})
  assert jnp.array_equal(eval_a, eval_b)
  assert not jnp.allclose(train_a, train_b)


@pytest.mark.slow
@pytest.mark.parametrize("name,shape", [("dcgan28", (28, 28, 1)), ("mlp", (2,)),
                                        ("dcgan32", (32, 32, 3)), ("resnet", (32, 32, 3))])
def test_every_discriminator_returns_the_features_its_last_layer_reads(name, shape):
  """Feature matching works for every model family: with `with_features=True`
  D returns [B, ...] features beside its logits, the logit is the last Dense
  layer applied to them (flattened), and the logits are those of a plain call."""
  small = {"dcgan28": {}, "mlp": dict(g_hidden=(16,), d_hidden=(16,)), "dcgan": dict(nf=8),
           "resnet": dict(nf=8, nf_max=16)}
  config = models.model_config(name, **small[models.MODELS.get(name).block])
  _, d = models.build_models(config, shape)
  x = jax.random.normal(jax.random.PRNGKey(0), (3, *shape))
  variables = d.init(jax.random.PRNGKey(1), x, train=False)
  logits, features = d.apply(variables, x, train=False, with_features=True)
  assert jnp.array_equal(logits, d.apply(variables, x, train=False))
  features = features.reshape((3, -1))  # as the step reads them
  last = sorted(k for k in variables["params"] if k.startswith(("Dense", "fc")))[-1]
  head = variables["params"][last]
  expected = features @ head["kernel"][:, 0] + (head["bias"][0] if "bias" in head else 0.0)
  assert jnp.allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_a_field_of_another_model_family_is_refused_naming_the_valid_ones():
  config = base.get_config().model  # dcgan28
  config.mlp.minibatch_kernels = 4  # the flat block let dcgan28 ignore this silently
  with pytest.raises(ConfigError, match=(
      r"model 'dcgan28' does not take config.model.mlp.minibatch_kernels \(set to 4\); it "
      r"takes config.model.\{latent_dim, conv_impl, d_spectral_norm, dcgan28.dropout_rate\}")):
    models.build_models(config, (28, 28, 1))
  config.mlp.minibatch_kernels = 0  # back at its default: nothing is set
  models.check_model_config(config)
  config.name = "mlp"
  models.check_model_config(config)  # every block at its default
  config.dcgan.nf = 8
  with pytest.raises(ConfigError, match=r"'mlp' does not take config.model.dcgan.nf .*"
                     r"mlp.d_batch_norm, mlp.d_hidden, mlp.dropout_rate, mlp.g_hidden"):
    models.check_model_config(config)


def test_model_config_places_fields_in_the_family_block():
  config = models.model_config("dcgan64", nf=16, latent_dim=8, conv_impl="xla")
  assert (config.name, config.dcgan.nf, config.latent_dim, config.conv_impl) == (
      "dcgan64", 16, 8, "xla")
  assert config.resnet.nf == base.get_config().model.resnet.nf
  with pytest.raises(ConfigError, match="model 'resnet' takes no field 'd_norm'"):
    models.model_config("resnet", d_norm="none")
  with pytest.raises(ValueError, match="Unknown model 'dcgan16'"):
    models.model_config("dcgan16")


def test_the_step_checks_the_model_block_too():
  from gan_jax import steps  # pylint: disable=g-import-not-at-top
  config = base.get_config()
  config.model.resnet.res_ratio = 0.5
  with pytest.raises(ConfigError, match="does not take config.model.resnet.res_ratio"):
    steps.make_train_step(config)
