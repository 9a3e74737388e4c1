"""Stride-1 2-D cross-correlation through discrete Fourier transforms, as matmuls.

A 5x5 kernel on a small feature map (DCGAN-28's 7x7x256 -> 7x7x128 transposed
convolution) costs Ho*Wo*kh*kw = 1,225 multiply-adds per (example, input
channel, output channel) done directly, but only 4 per frequency bin, 45 bins,
in the frequency domain: the same function, computed with 4-5x fewer FLOPs.
Float32 round-off differs from the direct sum at the 1e-6 relative level.

Math, per spatial axis (both axes are transformed together). With x at
positions 0..H-1 of a periodic grid of length P, the circular correlation
c[s] = sum_t x[t] w[t - s] has the DFT C(k) = X(k) conj(W(k)), and the layer
output (`lax.conv_general_dilated`, padding (pt, pb)) is y[i] = c[i - pt] for
i < Ho. The wrap-around never reaches a kept output when P >= H + pt and
P >= Ho - pt + kh - 1 (`spectral_size`). Inputs are real, so only the half
spectrum l = 0..Q//2 along W is formed; the inverse weights the other bins
twice (`_half_spectrum_weights`).

Everything is a real matmul with a layout chosen so that XLA needs no large
transposes:
  X      = A x            A [bins, 2, H*W] (cos, -sin rows); X [bins, 2N, C]
  W_re/im = K w           K [2, bins, kh*kw];                W [bins, C, F]
  Y_re, Y_im = X W_re, X W_im                                 [bins, 2N, F]
  y^T    = G_re Y_re + G_im Y_im                              [Ho*Wo, N, F]
where C = X conj(W) gives Re C = Xr Wr + Xi Wi and Im C = Xi Wr - Xr Wi, folded
into the inverse matrices G_re / G_im. The input gradient dx[t] =
sum_i g[i] w[t - i + pt] has the spectrum G W e^{+i theta pt} on the same grid
(the no-wrap conditions are the forward's), so it reuses W: Z = G W^T per bin,
then an inverse read at t + pt. The forward and the input gradient of one
layer share the kernel's spectrum, and the input and kernel gradients the
cotangent's (XLA merges the identical matmuls). The kernel gradient is
sum_n X conj(G) per bin, two batched matmuls over (re/im, N).

`conv_vjp` wires these three functions into custom VJPs so that every order
of reverse-mode differentiation runs them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax.typing import PrecisionLike

Pads = tuple[tuple[int, int], tuple[int, int]]


def spectral_size(n_in: int, n_out: int, kernel: int, pad_lo: int) -> int:
  """Smallest periodic grid (one axis) on which no kept output wraps around."""
  return max(n_in + pad_lo, n_out - pad_lo + kernel - 1)


def output_size(n_in: int, kernel: int, pads: tuple[int, int]) -> int:
  return n_in + pads[0] + pads[1] - kernel + 1


def _half_spectrum_weights(p: int, q: int) -> np.ndarray:
  """[p * (q//2 + 1), 1]: 1/(p q) for bins l = 0 (and q/2, q even), 2/(p q) else."""
  l = np.arange(q // 2 + 1)
  alpha = np.where((l == 0) | ((q % 2 == 0) & (l == q // 2)), 1.0, 2.0) / (p * q)
  return np.broadcast_to(alpha, (p, len(l))).reshape(-1, 1)


def _phase(p: int, q: int, rows: int, cols: int, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
  """theta [p * (q//2 + 1), rows * cols] = 2 pi (k (t + t0) / p + l (u + u0) / q)."""
  k = np.arange(p)[:, None, None, None]
  l = np.arange(q // 2 + 1)[None, :, None, None]
  t = (np.arange(rows) + offset[0])[None, None, :, None]
  u = (np.arange(cols) + offset[1])[None, None, None, :]
  return (2 * np.pi * (k * t / p + l * u / q)).reshape(p * (q // 2 + 1), rows * cols)


@functools.lru_cache(maxsize=64)
def _matrices(in_hw: tuple[int, int], kernel_hw: tuple[int, int], pads: Pads):
  """The float32 transform matrices of one layer geometry (see the module doc)."""
  (h, w), (kh, kw), ((pt, pb), (pl, pr)) = in_hw, kernel_hw, pads
  ho, wo = output_size(h, kh, (pt, pb)), output_size(w, kw, (pl, pr))
  p, q = spectral_size(h, ho, kh, pt), spectral_size(w, wo, kw, pl)
  alpha = _half_spectrum_weights(p, q)
  theta_x = _phase(p, q, h, w)                      # the input's DFT
  theta_w = _phase(p, q, kh, kw)                    # the kernel's DFT
  theta_y = _phase(p, q, ho, wo, (-pt, -pl))        # inverse, read at i - pt
  theta_g = _phase(p, q, ho, wo)                    # the output cotangent's DFT
  theta_dx = _phase(p, q, h, w, (pt, pl))           # inverse, read at t + pt
  theta_dw = _phase(p, q, kh, kw, (-pt, -pl))       # inverse at the kernel taps
  cos_y, sin_y = alpha * np.cos(theta_y), alpha * np.sin(theta_y)
  cos_dx, sin_dx = alpha * np.cos(theta_dx), alpha * np.sin(theta_dx)
  cos_dw, sin_dw = alpha * np.cos(theta_dw), alpha * np.sin(theta_dw)
  mats = dict(
      x=np.stack([np.cos(theta_x), -np.sin(theta_x)], 1),          # [bins, 2, H*W]
      w=np.stack([np.cos(theta_w), -np.sin(theta_w)], 0),          # [2, bins, kh*kw]
      # y = Re sum alpha C e^{+i theta}: cos * Re C - sin * Im C.
      y_re=np.stack([cos_y, -sin_y], 1),                           # weights of Y_re[re, im]
      y_im=np.stack([sin_y, cos_y], 1),                            # weights of Y_im[re, im]
      g=np.stack([np.cos(theta_g), -np.sin(theta_g)], 1),          # [bins, 2, Ho*Wo]
      # dx = Re sum alpha G W e^{+i theta}, Re GW = Gr Wr - Gi Wi, Im GW = Gr Wi + Gi Wr.
      dx_re=np.stack([cos_dx, -sin_dx], 1),                        # weights of Z_re[re, im]
      dx_im=np.stack([-sin_dx, -cos_dx], 1),                       # weights of Z_im[re, im]
      dw=np.stack([cos_dw, -sin_dw], 0),                           # [2, bins, kh*kw]
  )
  return {name: m.astype(np.float32) for name, m in mats.items()}


def _spectrum(x: jax.Array, matrix: np.ndarray, precision: PrecisionLike) -> jax.Array:
  """x [N, H, W, C] -> [bins, 2N, C]: rows (re, im) x N per frequency bin."""
  n, h, w, c = x.shape
  spec = jnp.einsum("bps,nsc->bpnc", matrix, x.reshape(n, h * w, c), precision=precision)
  return spec.reshape(matrix.shape[0], 2 * n, c)


def _kernel_spectrum(kernel: jax.Array, matrix: np.ndarray,
                     precision: PrecisionLike) -> tuple[jax.Array, jax.Array]:
  """kernel [kh, kw, C, F] -> (W_re, W_im), each [bins, C, F]."""
  kh, kw, c, f = kernel.shape
  taps = kernel.reshape(kh * kw, c, f)
  return tuple(jnp.einsum("bs,scf->bcf", m, taps, precision=precision) for m in matrix)


def _inverse(matrices: tuple[np.ndarray, np.ndarray], parts: tuple[jax.Array, jax.Array],
             out_hw: tuple[int, int], precision: PrecisionLike) -> jax.Array:
  """sum_(bin, re/im) of matrices [bins, 2, S] times parts [bins, 2N, F] -> [N, *out_hw, F]."""
  bins, f = parts[0].shape[0], parts[0].shape[-1]
  n = parts[0].shape[1] // 2
  y = sum(jnp.einsum("bps,bpnf->snf", m, part.reshape(bins, 2, n, f), precision=precision)
          for m, part in zip(matrices, parts))
  return y.transpose(1, 0, 2).reshape(n, *out_hw, f)


def correlate(x: jax.Array, kernel: jax.Array, pads: Pads,
              precision: PrecisionLike = None) -> jax.Array:
  """`lax.conv_general_dilated(x, kernel, (1, 1), pads)` (NHWC, HWIO) by DFT.

  Args:
    x: [N, H, W, C].
    kernel: [kh, kw, C, F].
    pads: ((top, bottom), (left, right)), each in 0..k-1.
    precision: of the matmuls.

  Returns:
    [N, Ho, Wo, F], Ho = H + top + bottom - kh + 1.
  """
  _, h, w, _ = x.shape
  kh, kw = kernel.shape[:2]
  mats = _matrices((h, w), (kh, kw), pads)
  spec = _spectrum(x, mats["x"], precision)
  parts = tuple(jnp.einsum("bmc,bcf->bmf", spec, k, precision=precision)
                for k in _kernel_spectrum(kernel, mats["w"], precision))
  out_hw = (output_size(h, kh, pads[0]), output_size(w, kw, pads[1]))
  return _inverse((mats["y_re"], mats["y_im"]), parts, out_hw, precision)


def input_size(n_out: int, kernel: int, pads: tuple[int, int]) -> int:
  """The input length whose `output_size` is n_out."""
  return n_out - pads[0] - pads[1] + kernel - 1


def correlate_input_grad(g: jax.Array, kernel: jax.Array, pads: Pads,
                         precision: PrecisionLike = None) -> jax.Array:
  """The VJP of `correlate` w.r.t. x: g [N, Ho, Wo, F] -> [N, H, W, C]."""
  _, ho, wo, _ = g.shape
  kh, kw = kernel.shape[:2]
  in_hw = (input_size(ho, kh, pads[0]), input_size(wo, kw, pads[1]))
  mats = _matrices(in_hw, (kh, kw), pads)
  g_spec = _spectrum(g, mats["g"], precision)
  parts = tuple(jnp.einsum("bmf,bcf->bmc", g_spec, k, precision=precision)
                for k in _kernel_spectrum(kernel, mats["w"], precision))
  return _inverse((mats["dx_re"], mats["dx_im"]), parts, in_hw, precision)


def correlate_kernel_grad(x: jax.Array, g: jax.Array, kernel_hw: tuple[int, int], pads: Pads,
                          precision: PrecisionLike = None) -> jax.Array:
  """The VJP of `correlate` w.r.t. the kernel: (x [N, H, W, C], g [N, Ho, Wo, F])
  -> [kh, kw, C, F], i.e. sum_(n, i, j) x[n, i + a - top, j + b - left, c] g[n, i, j, f]."""
  _, h, w, c = x.shape
  f = g.shape[-1]
  (kh, kw) = kernel_hw
  mats = _matrices((h, w), (kh, kw), pads)
  bins = mats["x"].shape[0]
  spec = _spectrum(x, mats["x"], precision)
  g_spec = _spectrum(g, mats["g"], precision).reshape(bins, 2, -1, f)
  # sum_n X conj(G): Re = Xr Gr + Xi Gi, Im = Xi Gr - Xr Gi = X . [-Gi; Gr].
  g_rot = jnp.stack([-g_spec[:, 1], g_spec[:, 0]], 1)
  dw_re, dw_im = (jnp.einsum("bmc,bmf->bcf", spec, part.reshape(bins, -1, f),
                             precision=precision) for part in (g_spec, g_rot))
  dw = (jnp.einsum("bs,bcf->scf", mats["dw"][0], dw_re, precision=precision)
        + jnp.einsum("bs,bcf->scf", mats["dw"][1], dw_im, precision=precision))
  return dw.reshape(kh, kw, c, f)


def multiply_adds(in_hw: tuple[int, int], kernel_hw: tuple[int, int], pads: Pads,
                  channels: tuple[int, int]) -> tuple[int, int]:
  """(direct, DFT) multiply-adds per example of one correlation, C -> F channels."""
  (h, w), (kh, kw), (c, f) = in_hw, kernel_hw, channels
  ho, wo = output_size(h, kh, pads[0]), output_size(w, kw, pads[1])
  bins = spectral_size(h, ho, kh, pads[0][0]) * (spectral_size(w, wo, kw, pads[1][0]) // 2 + 1)
  return ho * wo * kh * kw * c * f, bins * (2 * h * w * c + 4 * c * f + 4 * ho * wo * f)


def is_worthwhile(in_hw: tuple[int, int], kernel_hw: tuple[int, int], pads: Pads,
                  channels: tuple[int, int]) -> bool:
  """Whether the DFT form applies (pads in 0..k-1) and needs under half the
  multiply-adds of the direct correlation (small maps, large kernels)."""
  if any(not 0 <= p <= k - 1 for k, pad in zip(kernel_hw, pads) for p in pad):
    return False
  direct, spectral = multiply_adds(in_hw, kernel_hw, pads, channels)
  return 2 * spectral < direct
