"""Convolutions with custom VJPs that stay fast at every order of reverse mode.

Autodiff of an XLA convolution emits transposed convolutions (lhs-dilated, or
a kernel gradient with a dilated window) that XLA's CPU backend runs many
times slower than a forward convolution, and differentiating those again (the
double backprop of WGAN-GP / R1) makes it worse. Here the convolution, its
input gradient and its kernel gradient are three functions that are closed
under the VJP: each one's VJP is made of the three. So autodiff never
transposes a convolution itself, and each function runs by `engine`:

  xla  XLA's convolution and the first-order forms that `jax.linear_transpose`
       emits for it (fast on CPU); any strides and explicit padding.
  fft  `fft_conv`'s DFT correlation (stride 1, pads in 0..k-1): 4-5x fewer
       FLOPs for large kernels on small maps.

Reverse mode only: `jax.jvp` / `jax.jacfwd` raise (custom VJPs).
Static args: strides (sh, sw), padding ((top, bottom), (left, right)), engine,
precision. Layout NHWC / HWIO.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.conv import fft_conv

ENGINES = ("xla", "fft")
DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
# XLA:CPU runs the lhs-dilated convolution of a strided input gradient at the
# same speed per example up to about this many examples, and 2-3x slower per
# example for 128-256; chunks of the batch also run concurrently.
DILATED_CHUNK = 8
# Kernel gradients of layers with fewer input channels (an image layer, C = 1)
# run as patches^T @ cotangent: XLA:CPU's kernel-gradient convolution is 5-8x
# slower there (measured 38 vs 5 ms at batch 256 for DCGAN-28's first layer).
PATCHES_MAX_CHANNELS = 8


def xla_conv(x, w, strides, padding, precision):
  return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=DIMENSION_NUMBERS,
                                  precision=precision)


def _linear_transpose(fn, shape, cotangent):
  return jax.linear_transpose(fn, jax.ShapeDtypeStruct(shape, cotangent.dtype))(cotangent)[0]


def extract_patches(x, kernel_hw, strides, pads):
  """x [N, H, W, C] -> the windows [N, Ho, Wo, kh*kw*C], in the kernel's (kh, kw, C) order.

  Two passes of strided slices (kw along W, then kh along H) instead of kh*kw:
  a much smaller graph (XLA compiles nested gradients several times faster).
  """
  (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = kernel_hw, strides, pads
  _, h, w, _ = x.shape
  ho, wo = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
  xp = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
  cols = jnp.concatenate([
      lax.slice_in_dim(xp, j, j + sw * (wo - 1) + 1, sw, axis=2) for j in range(kw)], axis=3)
  return jnp.concatenate([
      lax.slice_in_dim(cols, i, i + sh * (ho - 1) + 1, sh, axis=1) for i in range(kh)], axis=3)


def _check_fft(strides):
  if tuple(strides) != (1, 1):
    raise ValueError(f"the fft engine computes stride-1 convolutions only, got {strides}")


def _forward(x, w, strides, padding, engine, precision):
  if engine == "fft":
    _check_fft(strides)
    return fft_conv.correlate(x, w, padding, precision)
  return xla_conv(x, w, strides, padding, precision)


def _input_grad(g, w, x_shape, strides, padding, engine, precision):
  if engine == "fft":
    _check_fft(strides)
    return fft_conv.correlate_input_grad(g, w, padding, precision)
  n, chunk = g.shape[0], DILATED_CHUNK
  if tuple(strides) != (1, 1) and n > chunk and jax.default_backend() == "cpu":
    return jnp.concatenate([
        _input_grad(g[i:i + chunk], w, (min(chunk, n - i), *x_shape[1:]), strides, padding,
                    engine, precision) for i in range(0, n, chunk)])
  return _linear_transpose(lambda x: xla_conv(x, w, strides, padding, precision), x_shape, g)


def _kernel_grad(x, g, w_shape, strides, padding, engine, precision):
  if engine == "fft":
    _check_fft(strides)
    return fft_conv.correlate_kernel_grad(x, g, tuple(w_shape[:2]), padding, precision)
  if x.shape[-1] < PATCHES_MAX_CHANNELS and jax.default_backend() == "cpu":
    patches = extract_patches(x, tuple(w_shape[:2]), tuple(strides), padding)
    return jnp.matmul(patches.reshape(-1, patches.shape[-1]).T, g.reshape(-1, g.shape[-1]),
                      precision=precision).reshape(w_shape)
  return _linear_transpose(lambda w: xla_conv(x, w, strides, padding, precision), w_shape, g)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def conv(x, w, strides, padding, engine, precision):
  """The convolution x [N, H, W, C], w [kh, kw, C, F] -> [N, Ho, Wo, F]."""
  return _forward(x, w, strides, padding, engine, precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def input_grad(g, w, x_shape, strides, padding, engine, precision):
  """The VJP of `conv` w.r.t. x (shape x_shape) for output cotangent g."""
  return _input_grad(g, w, x_shape, strides, padding, engine, precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def kernel_grad(x, g, w_shape, strides, padding, engine, precision):
  """The VJP of `conv` w.r.t. w (shape w_shape) for output cotangent g."""
  return _kernel_grad(x, g, w_shape, strides, padding, engine, precision)


def _conv_bwd(strides, padding, engine, precision, residuals, g):
  x, w = residuals
  static = (strides, padding, engine, precision)
  return input_grad(g, w, x.shape, *static), kernel_grad(x, g, w.shape, *static)


def _input_grad_bwd(x_shape, strides, padding, engine, precision, residuals, h):
  g, w = residuals  # <h, input_grad(g, w)> = <conv(h, w), g>
  static = (strides, padding, engine, precision)
  return conv(h, w, *static), kernel_grad(h, g, w.shape, *static)


def _kernel_grad_bwd(w_shape, strides, padding, engine, precision, residuals, k):
  x, g = residuals  # <k, kernel_grad(x, g)> = <conv(x, k), g>
  static = (strides, padding, engine, precision)
  return input_grad(g, k, x.shape, *static), conv(x, k, *static)


conv.defvjp(lambda x, w, *static: (conv(x, w, *static), (x, w)), _conv_bwd)
input_grad.defvjp(lambda g, w, *static: (input_grad(g, w, *static), (g, w)), _input_grad_bwd)
kernel_grad.defvjp(lambda x, g, *static: (kernel_grad(x, g, *static), (x, g)), _kernel_grad_bwd)
