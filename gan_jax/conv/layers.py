"""Fast 2-D convolutions for CPU, drop-in for flax's Conv and ConvTranspose.

XLA's CPU convolution runs a strided convolution and its first-order gradients
fast, but the convolutions that its autodiff makes for the kernel gradient of a
strided transposed convolution, and for the double backprop of WGAN-GP / R1
through a strided convolution, run many times slower; and a large kernel on a
small map (DCGAN-28's 5x5, 7x7x256 -> 7x7x128) is cheaper in the frequency
domain. The implementations, selected by `impl` (the `model.conv_impl` config
field, `CONV_IMPLS`):

  xla      the stock flax layers (`conv_modules` returns nn.Conv /
           nn.ConvTranspose).
  im2col   strided layers as patch extraction + one matmul, whose gradients
           are matmuls and slices too (stride-1 layers stay XLA convolutions,
           which run at matmul speed). Plain `jax.numpy`: every autodiff mode.
  xla_vjp  every layer an XLA convolution with custom VJPs (`conv_vjp`) that
           use XLA's fast first-order forms at every order of differentiation.
           Reverse mode only (`jax.jvp` / `jacfwd` raise).
  fft      as xla_vjp, except stride-1 layers for which the DFT correlation
           (`fft_conv`) needs under half the multiply-adds: those run by DFT
           matmuls, with the same custom-VJP closure. Fastest measured on CPU
           for DCGAN-28; reverse mode only.

The patch + matmul formulations:
  conv (im2col)           the kh*kw shifted, strided windows of the padded
                          input, concatenated on channels [N*Ho*Wo, kh*kw*C],
                          times the kernel [kh*kw*C, F].
  transposed conv,        sub-pixel (phase) decomposition: output pixel s*m + a
  gather (im2col)         only sees the kernel taps of phase a, so one patch
                          tensor of the *input* grid [N*H*W, Th*Tw*C] times a
                          kernel [Th*Tw*C, sh*sw*F] holding each phase's taps
                          (zeros elsewhere) gives all phases, interleaved by a
                          depth-to-space reshape; no zero-dilated input (s*s
                          times the work) is built.
  transposed conv,        x [N*H*W, C] times the kernel [C, kh*kw*F], then each
  scatter (col2im)        tap's slice is added, shifted, into its phase; used
                          when kh*kw*F < Th*Tw*C (e.g. a last layer, F = 1).

Parameters are those of the flax layers (`kernel` [kh, kw, C, F], `bias` [F],
same initialisers), so a parameter tree from one implementation works in the
others. All work under `jit` and `vmap`, with any number of leading batch axes
(or none). Supported: 2-D, channels last, 'SAME' padding for both layers
('VALID' or explicit pads for `Conv`), no dilation or feature groups.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.typing import Dtype, Initializer, PrecisionLike
from jax import lax

from gan_jax.conv import conv_vjp, fft_conv

CONV_IMPLS = ("xla", "im2col", "xla_vjp", "fft")
AUTO = "auto"  # the CPU fast path on CPU, XLA's own convolutions on GPU and TPU
Padding = str | Sequence[tuple[int, int]]


def resolve_conv_impl(impl: str, *, backend: str | None = None) -> str:
  """`impl`, with 'auto' resolved for `backend` (default: JAX's default backend):
  'fft' on CPU, 'xla' on GPU and TPU, where XLA's convolutions are the fast path.

  Raises:
    ValueError: an unknown name, listing the valid ones.
  """
  if impl == AUTO:
    return "fft" if (backend or jax.default_backend()) == "cpu" else "xla"
  if impl not in CONV_IMPLS:
    raise ValueError(f"Unknown conv_impl {impl!r}; valid choices: "
                     f"{', '.join((AUTO, *CONV_IMPLS))}")
  return impl


def _pair(value: int | Sequence[int] | None) -> tuple[int, int]:
  if value is None:  # flax's ConvTranspose default
    return 1, 1
  if isinstance(value, int):
    return value, value
  value = tuple(value)
  if len(value) != 2:
    raise ValueError(f"expected an int or 2 ints for a 2-D convolution, got {value}")
  return value  # type: ignore[return-value]


def _matmul(a: jax.Array, b: jax.Array, precision: PrecisionLike) -> jax.Array:
  return jnp.matmul(a, b, precision=precision)


def conv2d_im2col(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                  padding: Padding = "SAME", precision: PrecisionLike = None) -> jax.Array:
  """`lax.conv_general_dilated` (NHWC, HWIO) as im2col + matmul.

  Args:
    x: input [N, H, W, C].
    kernel: [kh, kw, C, F].
    strides: (sh, sw).
    padding: 'SAME', 'VALID' or ((top, bottom), (left, right)).
    precision: passed to the matmul.

  Returns:
    [N, Ho, Wo, F], e.g. Ho = ceil(H / sh) for 'SAME'.
  """
  n, h, w, c = x.shape
  kh, kw, _, f = kernel.shape
  pads = _explicit_pads((h, w), (kh, kw), strides, padding)
  patches = conv_vjp.extract_patches(x, (kh, kw), tuple(strides), pads)
  _, ho, wo, _ = patches.shape
  y = _matmul(patches.reshape(n * ho * wo, kh * kw * c), kernel.reshape(kh * kw * c, f),
              precision)
  return y.reshape(n, ho, wo, f)


def conv_transpose_same_pads(kernel_size: int, stride: int) -> tuple[int, int]:
  """Padding of the dilated input in `lax.conv_transpose(..., 'SAME')`.

  `lax.conv_transpose` (transpose_kernel=False, flax's default) computes
  y[o] = sum_k xd[o + k] w[k], with xd the input dilated by the stride and
  padded by these (before, after) amounts; the output has H * stride rows.
  """
  pad_len = kernel_size + stride - 2
  before = kernel_size - 1 if stride > kernel_size - 1 else math.ceil(pad_len / 2)
  return before, pad_len - before


def _phase_taps(kernel_size: int, stride: int) -> list[tuple[int, int, int]]:
  """(tap k, output phase a, input offset d) for each kernel tap along one axis.

  From o = s*n + before - k (see `conv_transpose_same_pads`): tap k feeds
  output phase a = (before - k) mod s, and output row m of that phase reads
  input row m + d with d = -((before - k) // s): y_a[m] += x[m + d] w[k].
  """
  before, _ = conv_transpose_same_pads(kernel_size, stride)
  return [(k, (before - k) % stride, -((before - k) // stride)) for k in range(kernel_size)]


def _offset_range(taps: list[tuple[int, int, int]]) -> tuple[int, int]:
  """(lowest, highest) input offset d over the taps."""
  return min(d for *_, d in taps), max(d for *_, d in taps)


def _interleave_phases(phases: jax.Array) -> jax.Array:
  """[N, H, W, sh, sw, F] -> [N, H*sh, W*sw, F] (depth to space)."""
  n, h, w, sh, sw, f = phases.shape
  return phases.transpose(0, 1, 3, 2, 4, 5).reshape(n, h * sh, w * sw, f)


def conv_transpose2d_im2col(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                            precision: PrecisionLike = None) -> jax.Array:
  """`lax.conv_transpose(x, kernel, strides, 'SAME')` by sub-pixel gather.

  Args:
    x: input [N, H, W, C].
    kernel: [kh, kw, C, F] (flax's layout; not flipped).
    strides: (sh, sw).
    precision: passed to the matmul.

  Returns:
    [N, H*sh, W*sw, F].
  """
  n, h, w, c = x.shape
  kh, kw, _, f = kernel.shape
  sh, sw = strides
  taps_h, taps_w = _phase_taps(kh, sh), _phase_taps(kw, sw)
  (lo_h, hi_h), (lo_w, hi_w) = _offset_range(taps_h), _offset_range(taps_w)
  th, tw = hi_h - lo_h + 1, hi_w - lo_w + 1
  # lo <= 0 <= hi always (tap 0 has d <= 0, tap k-1 has d >= 0).
  xp = jnp.pad(x, ((0, 0), (-lo_h, hi_h), (-lo_w, hi_w), (0, 0)))
  # Window offsets lo..hi along W, then along H: patches [N, H, W, th*tw*C].
  cols = jnp.concatenate([lax.slice_in_dim(xp, j, j + w, axis=2) for j in range(tw)], axis=3)
  patches = jnp.concatenate([lax.slice_in_dim(cols, i, i + h, axis=1) for i in range(th)],
                            axis=3)
  patches = patches.reshape(n * h * w, th * tw * c)
  # Merged kernel [th, tw, sh, sw] -> flat tap index of `kernel`, or the zero row.
  index = np.full((th, tw, sh, sw), kh * kw, np.int32)
  for k, a, d in taps_h:
    for l, b, e in taps_w:
      index[d - lo_h, e - lo_w, a, b] = k * kw + l
  taps = jnp.concatenate([kernel.reshape(kh * kw, c, f), jnp.zeros((1, c, f), kernel.dtype)])
  merged = taps[index.reshape(-1)].reshape(th, tw, sh, sw, c, f)
  merged = merged.transpose(0, 1, 4, 2, 3, 5).reshape(th * tw * c, sh * sw * f)
  y = _matmul(patches, merged, precision)
  return _interleave_phases(y.reshape(n, h, w, sh, sw, f))


def conv_transpose2d_col2im(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                            precision: PrecisionLike = None) -> jax.Array:
  """`lax.conv_transpose(x, kernel, strides, 'SAME')` by matmul then scatter.

  Args and returns as `conv_transpose2d_im2col`.
  """
  n, h, w, c = x.shape
  kh, kw, _, f = kernel.shape
  sh, sw = strides
  z = _matmul(x.reshape(n * h * w, c), kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * f),
              precision).reshape(n, h, w, kh, kw, f)
  taps_h, taps_w = _phase_taps(kh, sh), _phase_taps(kw, sw)
  # y_(a, b)[m, m'] += z[m + d, m' + e, k, l], summed over l along W first:
  # u[:, :, m', b, k] = sum_(l in phase b) z[:, :, m' + e, k, l].
  (lo_w, hi_w), (lo_h, hi_h) = _offset_range(taps_w), _offset_range(taps_h)
  zp = jnp.pad(z, ((0, 0), (0, 0), (-lo_w, hi_w), (0, 0), (0, 0), (0, 0)))
  u = [_phase_sum([zp[:, :, e - lo_w:e - lo_w + w, :, l, :] for l, b_, e in taps_w if b_ == b],
                  (n, h, w, kh, f), z.dtype) for b in range(sw)]
  up = jnp.pad(jnp.stack(u, axis=3), ((0, 0), (-lo_h, hi_h), (0, 0), (0, 0), (0, 0), (0, 0)))
  # Then over k along H; [N, H, sh, W, sw, F] is already the interleaved order.
  y = [_phase_sum([up[:, d - lo_h:d - lo_h + h, :, :, k, :] for k, a_, d in taps_h if a_ == a],
                  (n, h, w, sw, f), z.dtype) for a in range(sh)]
  return jnp.stack(y, axis=2).reshape(n, h * sh, w * sw, f)


def _phase_sum(terms: list[jax.Array], shape: tuple[int, ...], dtype) -> jax.Array:
  """Sum of `terms`, or zeros of `shape` when a phase gets no tap (stride > kernel)."""
  return sum(terms[1:], terms[0]) if terms else jnp.zeros(shape, dtype)


def _explicit_pads(in_hw, kernel_hw, strides, padding: Padding) -> tuple[tuple[int, int], ...]:
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(in_hw, kernel_hw, strides, padding)
  return tuple((int(lo), int(hi)) for lo, hi in padding)


def conv2d_xla_vjp(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                   padding: Padding = "SAME", precision: PrecisionLike = None) -> jax.Array:
  """`lax.conv_general_dilated` (NHWC, HWIO) with the custom VJPs above.

  Args and returns as `conv2d_im2col`. Reverse-mode differentiable to any
  order; forward mode (`jax.jvp`, `jax.jacfwd`) raises.
  """
  pads = _explicit_pads(x.shape[1:3], kernel.shape[:2], strides, padding)
  return conv_vjp.conv(x, kernel, tuple(strides), pads, "xla", precision)


def conv_transpose2d_xla_vjp(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                             precision: PrecisionLike = None) -> jax.Array:
  """`lax.conv_transpose(x, kernel, strides, 'SAME')` with the custom VJPs above.

  That is the input gradient of the 'SAME' convolution [N, H*sh, W*sw, F] ->
  [N, H, W, C] whose kernel is `kernel` flipped in space, in/out swapped.
  Args and returns as `conv_transpose2d_im2col`; reverse mode only.
  """
  n, h, w, _ = x.shape
  flipped = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)
  u_shape = (n, h * strides[0], w * strides[1], kernel.shape[-1])
  pads = _explicit_pads(u_shape[1:3], flipped.shape[:2], strides, "SAME")
  return conv_vjp.input_grad(x, flipped, u_shape, tuple(strides), pads, "xla", precision)


def _fft_pads(in_hw, kernel: jax.Array, strides, padding: Padding):
  """The explicit pads when `impl='fft'` computes this layer by DFT, else None."""
  if tuple(strides) != (1, 1):
    return None
  kh, kw, c, f = kernel.shape
  pads = _explicit_pads(in_hw, (kh, kw), strides, padding)
  return pads if fft_conv.is_worthwhile(tuple(in_hw), (kh, kw), pads, (c, f)) else None


def _dft_precision(precision: PrecisionLike) -> PrecisionLike:
  """The DFT path's matmuls run at full float32 unless told otherwise: its
  transforms' rounding was analysed for float32 (GPU and TPU default to TF32 /
  bfloat16 passes; on CPU this changes nothing)."""
  return lax.Precision.HIGHEST if precision is None else precision


def conv2d(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding,
           impl: str, precision: PrecisionLike = None) -> jax.Array:
  """x [N, H, W, C] * kernel [kh, kw, C, F] -> [N, Ho, Wo, F] by `impl`."""
  impl = resolve_conv_impl(impl)
  if impl == "xla" or (impl == "im2col" and tuple(strides) == (1, 1)):
    return conv_vjp.xla_conv(x, kernel, tuple(strides), padding, precision)
  if impl == "im2col":
    return conv2d_im2col(x, kernel, strides, padding, precision)
  if impl == "fft" and (pads := _fft_pads(x.shape[1:3], kernel, strides, padding)):
    return conv_vjp.conv(x, kernel, (1, 1), pads, "fft", _dft_precision(precision))
  return conv2d_xla_vjp(x, kernel, strides, padding, precision)


def conv_transpose2d(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], impl: str,
                     precision: PrecisionLike = None) -> jax.Array:
  """`lax.conv_transpose` 'SAME': x [N, H, W, C] -> [N, H*sh, W*sw, F] by `impl`."""
  impl = resolve_conv_impl(impl)
  if impl == "xla" or (impl == "im2col" and tuple(strides) == (1, 1)):
    return lax.conv_transpose(x, kernel, strides, "SAME",
                              dimension_numbers=conv_vjp.DIMENSION_NUMBERS, precision=precision)
  if impl == "fft" and tuple(strides) == (1, 1):
    # Stride 1 (transpose_kernel=False): the correlation with the kernel as is.
    same = tuple(conv_transpose_same_pads(k, 1) for k in kernel.shape[:2])
    if pads := _fft_pads(x.shape[1:3], kernel, strides, same):
      return conv_vjp.conv(x, kernel, (1, 1), pads, "fft", _dft_precision(precision))
  if impl in ("xla_vjp", "fft"):
    return conv_transpose2d_xla_vjp(x, kernel, strides, precision)
  # Elements per input pixel that each formulation materialises.
  (kh, kw, c, f), gather = kernel.shape, 1
  for k, s in zip((kh, kw), strides):
    lo, hi = _offset_range(_phase_taps(k, s))
    gather *= hi - lo + 1
  if kh * kw * f < gather * c:
    return conv_transpose2d_col2im(x, kernel, strides, precision)
  return conv_transpose2d_im2col(x, kernel, strides, precision)


def _flatten_batch(x: jax.Array) -> tuple[jax.Array, tuple[int, ...]]:
  """[*batch, H, W, C] -> ([N, H, W, C], batch shape); no batch axis is allowed."""
  batch_shape = x.shape[:-3]
  return x.reshape((-1, *x.shape[-3:])), batch_shape


class Conv(nn.Module):
  """Drop-in for `flax.linen.Conv` (2-D) with a selectable implementation.

  Attributes:
    features: output channels F.
    kernel_size: (kh, kw) or an int.
    strides: (sh, sw) or an int.
    padding: 'SAME', 'VALID' or ((top, bottom), (left, right)).
    use_bias: add a bias [F].
    impl: one of `CONV_IMPLS` ('xla' calls `lax.conv_general_dilated`).
    dtype, param_dtype, precision, kernel_init, bias_init: as in flax.
  """
  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] = 1
  padding: Padding = "SAME"
  use_bias: bool = True
  impl: str = AUTO  # see resolve_conv_impl
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  precision: PrecisionLike = None
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """Convolves inputs [*batch, H, W, C] -> [*batch, Ho, Wo, F]."""
    impl = resolve_conv_impl(self.impl)
    kernel_size, strides = _pair(self.kernel_size), _pair(self.strides)
    kernel = self.param("kernel", self.kernel_init,
                        (*kernel_size, inputs.shape[-1], self.features), self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    x, batch_shape = _flatten_batch(x)
    y = conv2d(x, kernel, strides, self.padding, impl, self.precision)
    if bias is not None:
      y = y + bias
    return y.reshape((*batch_shape, *y.shape[1:]))


class ConvTranspose(nn.Module):
  """Drop-in for `flax.linen.ConvTranspose` (2-D, 'SAME', transpose_kernel=False).

  Attributes:
    features: output channels F.
    kernel_size: (kh, kw) or an int.
    strides: (sh, sw) or an int; the output is [H*sh, W*sw].
    padding: only 'SAME'.
    use_bias: add a bias [F].
    impl: one of `CONV_IMPLS` ('xla' calls `lax.conv_transpose`).
    dtype, param_dtype, precision, kernel_init, bias_init: as in flax.
  """
  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] = 1
  padding: str = "SAME"
  use_bias: bool = True
  impl: str = AUTO  # see resolve_conv_impl
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  precision: PrecisionLike = None
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """Transposed-convolves inputs [*batch, H, W, C] -> [*batch, H*sh, W*sw, F]."""
    impl = resolve_conv_impl(self.impl)
    if self.padding != "SAME":
      raise ValueError(f"ConvTranspose supports only padding='SAME', got {self.padding!r}")
    kernel_size, strides = _pair(self.kernel_size), _pair(self.strides)
    c = inputs.shape[-1]
    kernel = self.param("kernel", self.kernel_init, (*kernel_size, c, self.features),
                        self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    x, batch_shape = _flatten_batch(x)
    y = conv_transpose2d(x, kernel, strides, impl, self.precision)
    if bias is not None:
      y = y + bias
    return y.reshape((*batch_shape, *y.shape[1:]))


def conv_modules(impl: str) -> tuple[Callable[..., nn.Module], Callable[..., nn.Module]]:
  """(conv, conv_transpose) constructors for `impl` ('auto' resolved for the
  default backend); 'xla' gives the flax ones.

  Both are called as `cls(features, kernel_size, strides=..., padding=...,
  use_bias=..., name=...)`.

  Raises:
    ValueError: unknown `impl`, listing the valid names.
  """
  return _conv_modules(resolve_conv_impl(impl))


@functools.lru_cache(maxsize=None)  # one pair per impl: modules holding them compare equal
def _conv_modules(impl: str) -> tuple[Callable[..., nn.Module], Callable[..., nn.Module]]:
  if impl == "xla":
    return nn.Conv, nn.ConvTranspose
  return functools.partial(Conv, impl=impl), functools.partial(ConvTranspose, impl=impl)
