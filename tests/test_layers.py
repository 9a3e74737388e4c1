"""Fast conv layers equal flax's Conv / ConvTranspose: values, gradients, 2nd order.

Every check compares against the stock flax layer (XLA's convolution) with the
*same* parameters, so a wrong tap order, padding or phase interleave fails.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gan_jax.configs import base
from gan_jax import models
from gan_jax.conv import layers

_DN = ("NHWC", "HWIO", "NHWC")
FAST_IMPLS = [impl for impl in layers.CONV_IMPLS if impl != "xla"]
# (batch, H, W, C, features, kernel, strides): batch 1, odd and non-square sizes,
# 1x1 images, the DCGAN-28 layer shapes (channels shrunk), asymmetric kernels.
CONV_CASES = [
    (1, 28, 28, 1, 8, (5, 5), (2, 2)),
    (3, 14, 14, 8, 16, (5, 5), (2, 2)),
    (2, 9, 7, 3, 5, (5, 5), (2, 2)),
    (2, 7, 7, 4, 6, (5, 5), (1, 1)),
    (2, 1, 1, 3, 2, (5, 5), (2, 2)),
    (2, 6, 5, 3, 4, (3, 4), (2, 1)),
    (2, 6, 5, 64, 64, (5, 3), (1, 1)),   # 'fft' takes the DFT path (even width)
    (10, 14, 14, 4, 8, (5, 5), (2, 2)),  # input gradient in uneven batch chunks
]
CONV_TRANSPOSE_CASES = [
    (1, 7, 7, 16, 8, (5, 5), (1, 1)),
    (2, 7, 7, 32, 16, (5, 5), (2, 2)),   # sub-pixel gather
    (2, 14, 14, 8, 1, (5, 5), (2, 2)),   # scatter (few output features)
    (3, 5, 6, 3, 4, (5, 5), (2, 2)),
    (2, 1, 1, 3, 2, (5, 5), (2, 2)),
    (2, 4, 3, 3, 2, (3, 4), (3, 2)),
    (2, 7, 7, 64, 32, (5, 5), (1, 1)),   # 'fft': DCGAN-28's first layer, narrower
    (11, 7, 7, 8, 4, (5, 5), (2, 2)),    # batch chunks of the dilated convolution
]


def _layers(kind, impl, features, kernel, strides):
  """(flax layer, fast layer) with the same hyper-parameters."""
  if kind == "conv":
    return (nn.Conv(features, kernel, strides=strides, padding="SAME"),
            layers.Conv(features, kernel, strides=strides, padding="SAME", impl=impl))
  return (nn.ConvTranspose(features, kernel, strides=strides, padding="SAME", use_bias=False),
          layers.ConvTranspose(features, kernel, strides=strides, padding="SAME",
                               use_bias=False, impl=impl))


def _setup(kind, impl, case):
  """Layers, random parameters (non-zero bias), input and output weights."""
  batch, h, w, c, features, kernel, strides = case
  ref, fast = _layers(kind, impl, features, kernel, strides)
  rng = np.random.default_rng(sum(case[:5]))  # numpy: no per-test JAX RNG compiles
  x = rng.standard_normal((batch, h, w, c)).astype(np.float32)
  shapes = jax.eval_shape(ref.init, jax.random.PRNGKey(0), x)["params"]
  params = jax.tree.map(
      lambda s: (rng.standard_normal(s.shape) / np.sqrt(np.prod(s.shape[:-1]))).astype(
          np.float32), shapes)
  weights = rng.standard_normal(jax.eval_shape(ref.apply, {"params": params}, x).shape)
  return ref, fast, params, x, weights.astype(np.float32)


def _scalar(module, params, x, weights):
  """A nonlinear scalar of the layer output, so second derivatives are non-trivial."""
  return jnp.sum(jnp.sin(module.apply({"params": params}, x)) * weights)


def _gp(module, params, x, weights):
  """||grad_x f(x)||^2, as in WGAN-GP / R1."""
  g = jax.grad(lambda x: _scalar(module, params, x, weights))(x)
  return jnp.sum(g ** 2)


def _close(a, b, tol):
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


CASES = ([("conv", c) for c in CONV_CASES]
         + [("conv_transpose", c) for c in CONV_TRANSPOSE_CASES])


def _param_grad_norm(module, params, x, weights):
  """||grad_params f||^2, as in consensus optimisation (differentiates the kernel grad)."""
  g = jax.grad(_scalar, argnums=1)(module, params, x, weights)
  return sum(jnp.sum(leaf ** 2) for leaf in jax.tree.leaves(g))


def _everything(module, params, x, weights):
  """Output, d/d(params, x) of a scalar, and second-order gradients: d/dparams
  ||d/dx scalar||^2 and d/d(params, x) ||d/dparams scalar||^2."""
  out = module.apply({"params": params}, x)
  grads = jax.grad(_scalar, argnums=(1, 2))(module, params, x, weights)
  second = (jax.grad(_gp, argnums=1)(module, params, x, weights),
            jax.grad(_param_grad_norm, argnums=(1, 2))(module, params, x, weights))
  return out, grads, second


@pytest.mark.slow
@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("kind,case", CASES)
def test_values_and_gradients_match_flax(kind, case, impl):
  ref, fast, params, x, weights = _setup(kind, impl, case)
  # One compilation for both layers keeps the test fast.
  both = jax.jit(lambda p, x, w: (_everything(ref, p, x, w), _everything(fast, p, x, w)))
  (out_ref, (gp_ref, gx_ref), gp2_ref), (out_fast, (gp_fast, gx_fast), gp2_fast) = both(
      params, x, weights)
  assert out_fast.shape == out_ref.shape
  _close(out_fast, out_ref, 1e-5)
  jax.tree.map(lambda a, b: _close(a, b, 1e-4), gp_fast, gp_ref)
  _close(gx_fast, gx_ref, 1e-5)
  # Second order (WGAN-GP's and consensus' double backprop), each leaf compared
  # relative to its largest entry.
  for a, b in zip(jax.tree.leaves(gp2_fast), jax.tree.leaves(gp2_ref)):
    scale = float(jnp.abs(b).max())
    assert scale > 0
    _close(a / scale, b / scale, 1e-4)


@pytest.mark.parametrize("kind", ["conv", "conv_transpose"])
def test_stride_one_patch_functions_match_lax(kind):
  """The layers send stride 1 to XLA under 'im2col'; the functions still work."""
  rng = np.random.default_rng(1)
  x = rng.standard_normal((2, 6, 7, 3)).astype(np.float32)
  k = rng.standard_normal((5, 3, 3, 4)).astype(np.float32)
  if kind == "conv":
    fns = [lambda x, k: lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_DN),
           lambda x, k: layers.conv2d_im2col(x, k, (1, 1), "SAME")]
  else:
    fns = [lambda x, k: lax.conv_transpose(x, k, (1, 1), "SAME", dimension_numbers=_DN),
           lambda x, k: layers.conv_transpose2d_im2col(x, k, (1, 1)),
           lambda x, k: layers.conv_transpose2d_col2im(x, k, (1, 1))]

  def everything(f):
    scalar = lambda x, k: jnp.sum(jnp.sin(f(x, k)))
    gp = lambda k, x: jnp.sum(jax.grad(scalar)(x, k) ** 2)
    return f(x, k), jax.grad(scalar, (0, 1))(x, k), jax.grad(gp)(k, x)
  ref, *others = jax.jit(lambda: [everything(f) for f in fns])()
  for other in others:
    jax.tree.map(lambda a, b: _close(a, b, 1e-4), other, ref)


def test_forward_mode_works_with_im2col_and_is_refused_by_xla_vjp():
  ref, fast, params, x, _ = _setup("conv", "im2col", CONV_CASES[2])
  tangent = np.ones_like(x)
  _, t_ref = jax.jvp(lambda x: ref.apply({"params": params}, x), (x,), (tangent,))
  _, t_fast = jax.jvp(lambda x: fast.apply({"params": params}, x), (x,), (tangent,))
  _close(t_fast, t_ref, 1e-5)
  vjp_layer = fast.clone(impl="xla_vjp")
  with pytest.raises(TypeError, match="forward-mode"):
    jax.jvp(lambda x: vjp_layer.apply({"params": params}, x), (x,), (tangent,))


@pytest.mark.parametrize("kind", ["conv", "conv_transpose"])
def test_same_parameters_as_flax(kind):
  """Same names, shapes and initial values from the same key, bias included."""
  ref, fast = _layers(kind, "im2col", 4, (5, 3), (2, 2))
  if kind == "conv_transpose":
    ref, fast = ref.clone(use_bias=True), fast.clone(use_bias=True)
  x = jnp.ones((1, 5, 5, 3))
  ref_init, fast_init = jax.jit(lambda key: (ref.init(key, x), fast.init(key, x)))(
      jax.random.PRNGKey(7))
  assert jax.tree.map(jnp.shape, ref_init) == {"params": {"kernel": (5, 3, 3, 4), "bias": (4,)}}
  assert jax.tree.structure(ref_init) == jax.tree.structure(fast_init)
  jax.tree.map(np.testing.assert_array_equal, ref_init, fast_init)


@pytest.mark.parametrize("kernel,stride", [(5, 2), (5, 1), (4, 2), (3, 3), (1, 2), (6, 4)])
def test_transposed_gather_and_scatter_equal_lax(kernel, stride):
  """Both formulations, whichever the layer would pick, equal lax.conv_transpose."""
  rng = np.random.default_rng(kernel * 10 + stride)
  x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
  k = rng.standard_normal((kernel, kernel + 1, 3, 2)).astype(np.float32)
  strides = (stride, stride)

  @jax.jit
  def all_three(x, k):
    return (lax.conv_transpose(x, k, strides, "SAME", dimension_numbers=_DN),
            layers.conv_transpose2d_im2col(x, k, strides),
            layers.conv_transpose2d_col2im(x, k, strides))
  ref, gather, scatter = all_three(x, k)
  assert ref.shape == (2, 5 * stride, 4 * stride, 2)
  _close(gather, ref, 1e-5)
  _close(scatter, ref, 1e-5)


@pytest.mark.parametrize("padding", ["VALID", ((2, 0), (1, 3))])
def test_conv_other_paddings_equal_lax(padding):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
  k = rng.standard_normal((5, 3, 3, 4)).astype(np.float32)
  ref, fast = jax.jit(lambda x, k: (
      lax.conv_general_dilated(x, k, (2, 3), padding, dimension_numbers=_DN),
      layers.conv2d_im2col(x, k, (2, 3), padding)))(x, k)
  assert fast.shape == ref.shape
  _close(fast, ref, 1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("cls", [layers.Conv, layers.ConvTranspose])
def test_vmap_and_extra_batch_axes(cls, impl):
  """[2, 3, H, W, C] inputs, and vmap over single examples [H, W, C], equal [6, H, W, C]."""
  layer = cls(4, (5, 5), strides=2, impl=impl)
  x = np.random.default_rng(0).standard_normal((2, 3, 7, 6, 3)).astype(np.float32)
  params = jax.jit(layer.init)(jax.random.PRNGKey(1), x[0])

  @jax.jit
  def three_ways(params, x):
    flat = layer.apply(params, x.reshape(6, 7, 6, 3))
    per_example = jax.vmap(jax.vmap(lambda e: layer.apply(params, e)))(x)
    # Per-example input gradients under vmap equal the batched gradient.
    scalar = lambda e: jnp.sum(jnp.sin(layer.apply(params, e)))
    grads = (jax.vmap(jax.grad(scalar))(x[0]), jax.grad(scalar)(x[0]))
    return flat, per_example, layer.apply(params, x), grads
  flat, per_example, nested, (vmapped_grad, batched_grad) = three_ways(params, x)
  assert per_example.shape == nested.shape == (2, 3, *flat.shape[1:])
  _close(per_example.reshape(flat.shape), flat, 1e-5)
  _close(nested.reshape(flat.shape), flat, 1e-5)
  _close(vmapped_grad, batched_grad, 1e-5)


def test_unknown_impl_lists_valid_names():
  with pytest.raises(ValueError, match="xla, im2col, xla_vjp, fft"):
    layers.conv_modules("cudnn")
  with pytest.raises(ValueError, match="valid choices"):
    layers.Conv(4, (3, 3), impl="winograd").init(jax.random.PRNGKey(0), jnp.ones((1, 4, 4, 1)))
  config = base.get_config().model
  config.conv_impl = "winograd"
  with pytest.raises(ValueError, match="im2col"):
    models.build_models(config, (28, 28, 1))


@pytest.mark.parametrize("kind,case,takes_dft", [
    ("conv", CONV_CASES[-2], True), ("conv_transpose", CONV_TRANSPOSE_CASES[-2], True),
    ("conv", CONV_CASES[3], False),            # 4 -> 6 channels: direct is cheaper
    ("conv_transpose", CONV_TRANSPOSE_CASES[1], False)])  # stride 2
def test_fft_impl_uses_the_dft_only_where_it_saves_work(kind, case, takes_dft):
  _, fast, params, x, _ = _setup(kind, "fft", case)
  jaxpr = str(jax.make_jaxpr(lambda p, x: jax.grad(
      lambda x: fast.apply({"params": p}, x).sum())(x))(params, x))
  assert ("conv_general_dilated" not in jaxpr) == takes_dft


def test_conv_transpose_rejects_other_paddings():
  layer = layers.ConvTranspose(2, (3, 3), padding="VALID")
  with pytest.raises(ValueError, match="SAME"):
    layer.init(jax.random.PRNGKey(0), jnp.ones((1, 4, 4, 1)))


def _dcgan(impl):
  config = base.get_config().model
  config.conv_impl = impl
  return models.build_models(config, (28, 28, 1))


@pytest.mark.slow
def test_dcgan28_is_the_same_network_with_every_impl():
  nets = {impl: _dcgan(impl) for impl in layers.CONV_IMPLS}
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 100))
  x = jnp.tanh(jax.random.normal(jax.random.PRNGKey(1), (2, 28, 28, 1)))
  init = jax.jit(lambda g, d: (g.init(jax.random.PRNGKey(2), z, train=False),
                               d.init(jax.random.PRNGKey(3), x, train=False)),
                 static_argnums=(0, 1))
  g_vars, d_vars = init(*nets["xla"])
  for impl in FAST_IMPLS:  # same tree (names, shapes) and initial values
    jax.tree.map(np.testing.assert_array_equal, init(*nets[impl]), (g_vars, d_vars))
  rngs = {"dropout": jax.random.PRNGKey(4)}

  def gp(d, params):
    """WGAN-GP's double backprop through the whole critic (train mode)."""
    g = jax.grad(lambda x: d.apply({"params": params}, x, train=True, rngs=rngs).sum())(x)
    return jnp.mean((jnp.sqrt(jnp.sum(g ** 2, axis=(1, 2, 3))) - 1) ** 2)

  def run(g, d):
    images = g.apply(g_vars, z, train=True, mutable=["batch_stats"])
    logits = d.apply(d_vars, x, train=True, rngs=rngs)
    return images, logits, jax.grad(functools.partial(gp, d))(d_vars["params"])

  # One compilation for all implementations keeps the test fast.
  outs = jax.jit(lambda: {impl: run(*nets[impl]) for impl in layers.CONV_IMPLS})()
  (images, _), logits, _ = outs["xla"]
  assert images.shape == (2, 28, 28, 1) and logits.shape == (2,)
  for impl in FAST_IMPLS:
    jax.tree.map(lambda a, b: _close(a, b, 1e-5), outs[impl][:2], outs["xla"][:2])
    jax.tree.map(lambda a, b: _close(a, b, 1e-4), outs[impl][2], outs["xla"][2])


def test_the_dft_path_asks_for_full_float32_precision():
  """The fft convolution's matmuls run at HIGHEST unless a precision is given."""
  x = jnp.zeros((2, 7, 7, 256))  # DCGAN-28 G's 5x5 7x7x256 -> 128 layer takes the DFT path
  kernel = jnp.zeros((5, 5, 256, 128))
  text = str(jax.make_jaxpr(lambda x, k: layers.conv2d(x, k, (1, 1), "SAME", "fft"))(x, kernel))
  assert "dot_general[" in text and "conv_general_dilated" not in text  # it took the DFT path
  assert text.count("dot_general[") == text.count(
      "precision=(Precision.HIGHEST, Precision.HIGHEST)"), text


def test_auto_picks_the_cpu_fast_path_on_cpu_and_xla_elsewhere():
  assert layers.resolve_conv_impl("auto", backend="cpu") == "fft"
  assert layers.resolve_conv_impl("auto", backend="gpu") == "xla"
  assert layers.resolve_conv_impl("auto", backend="tpu") == "xla"
  assert layers.resolve_conv_impl("im2col", backend="gpu") == "im2col"  # an explicit choice stays
  with pytest.raises(ValueError, match="valid choices: auto, xla"):
    layers.resolve_conv_impl("cudnn")
  assert layers.conv_modules("xla") == (nn.Conv, nn.ConvTranspose)
  # The models take the constructors; one pair per impl, so the modules compare equal.
  config = base.get_config().model
  g_auto, d_auto = models.build_models(_with(config, "auto"), (28, 28, 1))
  g_fft, d_fft = models.build_models(_with(config, "fft"), (28, 28, 1))
  if jax.default_backend() == "cpu":
    assert (g_auto, d_auto) == (g_fft, d_fft)
    assert d_fft.conv.keywords == {"impl": "fft"}


def _with(config, impl):
  out = config.copy_and_resolve_references()
  out.conv_impl = impl
  return out
