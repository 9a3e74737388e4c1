"""DCGAN-32/64 and the Mescheder ResNet: shapes, parameter trees, R1 compatibility,
and one training step of the experiments that use them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import dcgan_cifar10, resnet_celeba, seed003_gan_stability
from gan_jax.configs import base
from gan_jax import models, penalties, steps
from gan_jax.state import count_params, create_state

B = 3


SMALL = {"dcgan": dict(nf=8), "resnet": dict(nf=8, nf_max=32)}  # by config block


def model_config(name, **fields):
  """The base `model` block of model `name`, small unless `fields` say otherwise."""
  return models.model_config(name, **{**SMALL[models.MODELS.get(name).block], **fields})


def shapes(variables):
  return jax.tree.map(lambda x: tuple(x.shape), variables)


def init_pair(config, size):
  """Builds and initialises both networks; x = G(z) [B, size, size, 3] (one jit)."""
  g, d = models.build_models(config, (size, size, 3))

  @jax.jit
  def init():
    z = jax.random.normal(jax.random.PRNGKey(0), (B, config.latent_dim))
    g_vars = g.init(jax.random.PRNGKey(1), z, train=False)
    x = g.apply(g_vars, z, train=False)
    return g_vars, d.init(jax.random.PRNGKey(2), x, train=False), x

  return (g, d, *init())


def apply_fn(module, train=False, mutable=False):
  """A jitted `module.apply(variables, x, train=train)`."""
  return jax.jit(lambda variables, x: module.apply(variables, x, train=train, mutable=mutable))


@pytest.mark.slow
@pytest.mark.parametrize("name,size", [("dcgan32", 32), ("dcgan64", 64), ("resnet", 32),
                                       ("resnet", 64)])
def test_output_shapes_and_ranges(name, size):
  config = model_config(name)
  g, d, g_vars, d_vars, x = init_pair(config, size)
  assert x.shape == (B, size, size, 3) and x.dtype == jnp.float32
  assert float(jnp.abs(x).max()) <= 1.0 and float(jnp.std(x)) > 0  # tanh, not constant
  logits = apply_fn(d)(d_vars, x)
  assert logits.shape == (B,) and bool(jnp.all(jnp.isfinite(logits)))
  if name.startswith("dcgan"):  # A batch-norm G: running statistics for every BN layer.
    assert set(g_vars["batch_stats"]) == {k for k in g_vars["params"] if "BatchNorm" in k}


def test_dcgan64_matches_pytorch_dcgan_parameter_counts():
  # PyTorch's DCGAN example (nz 100, ngf = ndf = 64, nc 3): 3,576,704 and 2,765,568.
  config = model_config("dcgan64", nf=64, latent_dim=100)
  g, d = models.build_models(config, (64, 64, 3))
  g_vars = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), jnp.zeros((2, 100)),
                                         train=False))
  d_vars = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((2, 64, 64, 3)),
                                         train=False))
  assert count_params(g_vars["params"]) == 3_576_704
  assert count_params(d_vars["params"]) == 2_765_568


@pytest.mark.parametrize("size,widths", [(32, (512, 256, 128)), (64, (512, 256, 128, 64))])
def test_dcgan_parameter_trees(size, widths):
  nf, latent = 64, 100
  g, d = models.build_models(model_config(f"dcgan{size}", nf=nf, latent_dim=latent),
                             (size, size, 3))
  g_params = shapes(jax.eval_shape(lambda: g.init(
      jax.random.PRNGKey(0), jnp.zeros((2, latent)), train=False))["params"])
  expected = {"Dense_0": {"kernel": (latent, 16 * widths[0])}}
  for i, (cin, cout) in enumerate(zip(widths, widths[1:] + (3,))):
    expected[f"ConvTranspose_{i}"] = {"kernel": (4, 4, cin, cout)}
  for i, c in enumerate(widths):
    expected[f"BatchNorm_{i}"] = {"scale": (c,), "bias": (c,)}
  assert g_params == expected
  d_params = shapes(jax.eval_shape(lambda: d.init(
      jax.random.PRNGKey(0), jnp.zeros((2, size, size, 3)), train=False))["params"])
  d_widths = widths[::-1]
  expected = {"Dense_0": {"kernel": (16 * widths[0], 1)}}
  for i, (cin, cout) in enumerate(zip((3,) + d_widths, d_widths)):
    expected[f"Conv_{i}"] = {"kernel": (4, 4, cin, cout)}
    if i:
      expected[f"BatchNorm_{i}"] = {"scale": (cout,), "bias": (cout,)}
  assert d_params == expected


def _block_params(fin, fout):
  hidden = min(fin, fout)
  return (9 * fin * hidden + hidden + 9 * hidden * fout + fout
          + (fin * fout if fin != fout else 0))


@pytest.mark.parametrize("size", [32, 64])
def test_resnet_parameter_tree_follows_gan_stability(size):
  nf, nf_max, latent = 16, 64, 8
  config = model_config("resnet", nf=nf, nf_max=nf_max, latent_dim=latent)
  g, d = models.build_models(config, (size, size, 3))
  g_vars = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), jnp.zeros((2, latent)),
                                         train=False))
  d_vars = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((2, size, size, 3)),
                                         train=False))
  assert set(g_vars) == {"params"} and set(d_vars) == {"params"}  # No normalisation.
  k = {32: 3, 64: 4}[size]
  w = [min(nf * 2**j, nf_max) for j in range(k + 1)]  # [16, 32, 64, 64(, 64)]
  g_params, d_params = shapes(g_vars["params"]), shapes(d_vars["params"])
  assert g_params["fc"]["kernel"] == (latent, 16 * w[k])
  assert g_params["conv_img"]["kernel"] == (3, 3, nf, 3)
  for i, level in enumerate(range(k, 0, -1)):  # A learned shortcut iff the width changes.
    block = g_params[f"block_{i}"]
    assert block["conv_1"]["kernel"] == (3, 3, min(w[level], w[level - 1]), w[level - 1])
    if w[level] != w[level - 1]:
      assert block["conv_s"] == {"kernel": (1, 1, w[level], w[level - 1])}
    else:
      assert "conv_s" not in block
  assert "conv_s" not in g_params[f"block_{k}"]  # nf -> nf: identity shortcut.
  assert d_params["fc"]["kernel"] == (16 * w[k], 1)
  assert d_params["block_1"]["conv_s"] == {"kernel": (1, 1, nf, 2 * nf)}
  assert d_params[f"block_{k}"]["conv_1"]["kernel"] == (3, 3, w[k - 1], w[k])
  g_blocks = [(w[j], w[j - 1]) for j in range(k, 0, -1)] + [(nf, nf)]
  d_blocks = [(nf, nf)] + [(w[j], w[j + 1]) for j in range(k)]
  assert count_params(g_vars) == (latent * 16 * w[k] + 16 * w[k]
                                  + sum(_block_params(*b) for b in g_blocks) + 9 * nf * 3 + 3)
  assert count_params(d_vars) == (9 * 3 * nf + nf + sum(_block_params(*b) for b in d_blocks)
                                  + 16 * w[k] + 1)


def test_resnet_residual_branch_is_scaled_by_res_ratio():
  config = model_config("resnet", res_ratio=0.1)
  _, d, _, d_vars, x = init_pair(config, 32)

  def d_logits(res_ratio):
    return apply_fn(models.build_models(model_config("resnet", res_ratio=res_ratio),
                                        (32, 32, 3))[1])(d_vars, x)

  assert not jnp.allclose(d_logits(0.0), d_logits(0.1))
  # With res_ratio 0 every block is its shortcut: the 3x3 convs do not matter.
  zeroed = jax.tree_util.tree_map_with_path(
      lambda path, v: jnp.zeros_like(v) if "conv_0" in str(path) or "conv_1" in str(path) else v,
      d_vars)
  np.testing.assert_allclose(
      apply_fn(models.build_models(model_config("resnet", res_ratio=0.0), (32, 32, 3))[1])(
          zeroed, x), d_logits(0.0), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name,d_norm,has_stats", [
    ("dcgan32", "batch_norm", True), ("dcgan32", "layer_norm", False),
    ("dcgan64", "none", False), ("resnet", None, False)])  # resnet has no d_norm field.
def test_discriminator_r1_compatibility(name, d_norm, has_stats):
  size = 64 if name == "dcgan64" else 32
  _, d, _, d_vars, x = init_pair(model_config(name, **({"d_norm": d_norm} if d_norm else {})),
                                 size)
  assert bool(d_vars.get("batch_stats")) == has_stats
  if has_stats:
    with pytest.raises(ValueError, match="batch norm"):
      penalties.check_penalty_compatible(d_vars, "r1")
    return
  penalties.check_penalty_compatible(d_vars, "r1")
  # Examples are independent in train mode: changing the others leaves D(x_0) alone.
  other = x.at[1:].set(jax.random.normal(jax.random.PRNGKey(5), x[1:].shape))
  d_train = apply_fn(d, train=True)
  np.testing.assert_allclose(d_train(d_vars, x)[0], d_train(d_vars, other)[0],
                             rtol=1e-5, atol=1e-6)
  d_fn = lambda images: d.apply(d_vars, images, train=True)  # noqa: E731
  r1 = jax.jit(lambda x: penalties.get_penalty("r1")(d_fn=d_fn, x_real=x, x_fake=x,
                                                     key=jax.random.PRNGKey(0)))(x)
  assert r1.shape == (B,) and bool(jnp.all(jnp.isfinite(r1))) and bool(jnp.all(r1 > 0))


def test_batch_norm_discriminator_mixes_examples():
  _, d, _, d_vars, x = init_pair(model_config("dcgan32", d_norm="batch_norm"), 32)
  other = x.at[1:].set(jax.random.normal(jax.random.PRNGKey(5), x[1:].shape))
  d_train = apply_fn(d, train=True, mutable=["batch_stats"])
  (a, _), (b, _) = d_train(d_vars, x), d_train(d_vars, other)
  assert not jnp.allclose(a[0], b[0])


@pytest.mark.slow
def test_conv_implementations_share_parameters_and_outputs():
  config = model_config("dcgan32", conv_impl="xla", d_norm="layer_norm")
  _, _, g_vars, d_vars, x = init_pair(config, 32)
  z = jax.random.normal(jax.random.PRNGKey(0), (B, config.latent_dim))
  g_fast, d_fast = models.build_models(model_config("dcgan32", conv_impl="im2col",
                                                    d_norm="layer_norm"), (32, 32, 3))
  np.testing.assert_allclose(apply_fn(g_fast)(g_vars, z), x, atol=1e-5)
  d_xla = models.build_models(config, (32, 32, 3))[1]
  np.testing.assert_allclose(apply_fn(d_fast)(d_vars, x), apply_fn(d_xla)(d_vars, x),
                             rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,shape", [("dcgan32", (64, 64, 3)), ("dcgan64", (32, 32, 3)),
                                        ("dcgan32", (32, 32)), ("resnet", (48, 48, 3)),
                                        ("resnet", (32, 16, 3)), ("resnet", (28, 28, 1))])
def test_factories_refuse_sizes_they_cannot_produce(name, shape):
  with pytest.raises(ValueError, match=f"{name} needs square images"):
    models.build_models(model_config(name), shape)


def test_unknown_d_norm_and_conv_impl_list_choices():
  with pytest.raises(ValueError, match="d_norm 'spectral'.*batch_norm, layer_norm, none"):
    models.build_models(model_config("dcgan32", d_norm="spectral"), (32, 32, 3))
  with pytest.raises(ValueError, match="conv_impl 'cudnn'.*xla"):
    models.build_models(model_config("resnet", conv_impl="cudnn"), (32, 32, 3))


def test_new_models_are_registered():
  assert {"dcgan32", "dcgan64", "resnet"} <= set(models.MODELS.names())


@pytest.mark.slow
@pytest.mark.parametrize("module,arg,size", [(dcgan_cifar10, "runlocal", 32),
                                             (dcgan_cifar10, "layer_norm,runlocal", 32),
                                             (resnet_celeba, "runlocal", 32),
                                             (seed003_gan_stability, "runlocal", 32),
                                             (seed003_gan_stability, "celeb_a,r1,runlocal", 64)])
def test_runlocal_experiments_take_a_finite_training_step(module, arg, size):
  config = module.get_config(arg)
  if "layer_norm" in arg:  # The variant gradient penalties need.
    config.penalty.update(name="wgan_gp", weight=10.0)
    config.objective = "wasserstein"
  config.dataset.batch_size = 4  # the nested-grad compile dominates; keep it small
  config.lock()
  # Initialised under one jit: eager init dispatches (and compiles) op by op.
  state = jax.jit(lambda: create_state(config, sample_shape=(size, size, 3)))()
  step = jax.jit(steps.make_train_step(config))
  batch = jax.random.uniform(jax.random.PRNGKey(0),
                             (config.num_critic_steps, config.dataset.batch_size, size, size, 3),
                             minval=-1, maxval=1)
  new_state, metrics = step(state, batch)
  assert all(bool(jnp.isfinite(v)) for v in metrics.values()), metrics
  if config.penalty.name != "none":
    assert float(metrics["d/penalty"]) > 0
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state.d_params, new_state.d_params)
  assert all(jax.tree.leaves(changed))


def test_seed003_configs_are_gan_stabilitys_printed_settings():
  """The values of the GAN_stability config seed 003 prints (reg_param 10 with
  reg_type wgangp; 'real' is R1 at reg_param 10, our gamma 20)."""
  from gan_jax import penalties  # pylint: disable=g-import-not-at-top
  config = seed003_gan_stability.get_config()
  assert (config.dataset.name, config.dataset.batch_size, config.model.name,
          config.model.latent_dim, config.objective, config.num_critic_steps,
          config.tricks.ema_decay) == ("cifar10", 64, "resnet", 256, "non_saturating", 1, 0.999)
  for opt in (config.optimizer_g, config.optimizer_d):
    assert (opt.name, opt.learning_rate, opt.warmup_steps) == ("rmsprop", 1e-4, 0)
  assert (config.penalty.name, config.penalty.weight) == ("wgan_gp", 10.0)
  r1 = seed003_gan_stability.get_config("celeb_a,r1")
  assert r1.dataset.name == "celeb_a" and r1.penalty.name == "r1"
  # GAN_stability adds reg_param * ||g||^2: the coefficient our step applies.
  assert penalties.penalty_coefficient("r1", r1.penalty.weight) == 10.0
  assert seed003_gan_stability.get_config("cifar10,none").penalty.name == "none"
