"""The DFT correlation equals XLA's convolution: values, both VJPs, any order.

Geometries cover odd and even periodic sizes (the half spectrum's Nyquist bin),
asymmetric pads, zero pads ('VALID') and non-square maps and kernels, so a
wrong phase, aliasing size or inverse weight fails.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gan_jax.conv import conv_vjp, fft_conv

_DN = ("NHWC", "HWIO", "NHWC")
# (N, H, W, C, F, kh, kw, pads)
GEOMETRIES = [
    (3, 7, 7, 4, 6, 5, 5, ((2, 2), (2, 2))),   # DCGAN-28's first layer, narrow
    (2, 9, 6, 3, 5, 3, 4, ((0, 2), (1, 3))),   # asymmetric, even width
    (2, 8, 8, 3, 2, 4, 4, ((1, 2), (0, 0))),   # 'VALID' along W
    (1, 1, 1, 2, 3, 5, 5, ((2, 2), (2, 2))),   # 1x1 map
    (2, 5, 12, 2, 3, 1, 5, ((0, 0), (4, 0))),  # 1-row kernel, causal pads
]


def _lax(x, k, pads):
  return lax.conv_general_dilated(x, k, (1, 1), pads, dimension_numbers=_DN,
                                  precision=lax.Precision.HIGHEST)


def _data(geometry):
  n, h, w, c, f, kh, kw, pads = geometry
  rng = np.random.default_rng(h * 100 + w)
  x = rng.standard_normal((n, h, w, c)).astype(np.float32)
  k = rng.standard_normal((kh, kw, c, f)).astype(np.float32)
  g = rng.standard_normal(_lax(x, k, pads).shape).astype(np.float32)
  return x, k, g, pads


@pytest.mark.slow
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_correlation_and_its_vjps_equal_lax(geometry):
  x, k, g, pads = _data(geometry)
  y, vjp = jax.vjp(lambda x, k: _lax(x, k, pads), x, k)
  gx, gk = vjp(g)
  np.testing.assert_allclose(fft_conv.correlate(x, k, pads), y, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(fft_conv.correlate_input_grad(g, k, pads), gx, rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(fft_conv.correlate_kernel_grad(x, g, k.shape[:2], pads), gk,
                             rtol=1e-5, atol=1e-4)


def test_delta_kernel_shifts_the_input():
  """A single tap at (a, b) reads x[i + a - top, j + b - left]: a closed form."""
  x = np.arange(2 * 6 * 5 * 1, dtype=np.float32).reshape(2, 6, 5, 1)
  k = np.zeros((3, 3, 1, 1), np.float32)
  k[2, 0] = 1.0
  y = fft_conv.correlate(x, k, ((1, 1), (1, 1)))
  want = np.zeros_like(x)
  want[:, :-1, 1:] = x[:, 1:, :-1]   # i + 1, j - 1
  np.testing.assert_allclose(y, want, atol=1e-4)


@pytest.mark.slow
def test_engines_agree_at_second_order():
  """WGAN-GP-style double backprop through the custom VJPs: fft == xla."""
  x, k, g, pads = _data(GEOMETRIES[1])

  def gp(engine, k, x):
    f = lambda x: jnp.sum(jnp.sin(conv_vjp.conv(x, k, (1, 1), pads, engine, None)) * g)
    return jnp.sum(jax.grad(f)(x) ** 2)
  grads = {e: jax.grad(gp, argnums=(1, 2))(e, k, x) for e in conv_vjp.ENGINES}
  for a, b in zip(grads["fft"], grads["xla"]):
    scale = float(jnp.abs(b).max())
    np.testing.assert_allclose(a / scale, b / scale, atol=1e-4)


def test_forward_and_gradients_share_the_spectra():
  """A layer's forward, input and kernel gradients transform the kernel once
  (re, im) and x and the cotangent once each: XLA merges the repeats."""
  x, k, g, pads = _data(GEOMETRIES[0])

  def forward_and_vjp(x, k, g):
    y, vjp = jax.vjp(lambda x, k: conv_vjp.conv(x, k, (1, 1), pads, "fft", None), x, k)
    return y, vjp(g)
  hlo = jax.jit(forward_and_vjp).lower(x, k, g).compile().as_text()
  entry = hlo[hlo.index("\nENTRY"):].splitlines()

  def count(einsum):  # matmul instructions (fused or not) made by this einsum
    made_by = re.compile(r"\(" + re.escape(einsum) + r"\)+/dot_general")
    return sum(re.search(r"= \S+ (fusion|dot)\(", line) is not None
               and made_by.search(line) is not None for line in entry)
  assert count("bs,scf->bcf") == 2      # W_re, W_im
  assert count("bps,nsc->bpnc") == 2    # X (forward, kernel grad), G (both grads)


def test_fft_engine_refuses_strides():
  x, k, _, pads = _data(GEOMETRIES[0])
  with pytest.raises(ValueError, match="stride-1"):
    conv_vjp.conv(x, k, (2, 2), pads, "fft", None)


def test_worthwhile_only_for_large_kernels_on_small_maps():
  same5 = ((2, 2), (2, 2))
  direct, spectral = fft_conv.multiply_adds((7, 7), (5, 5), same5, (256, 128))
  assert direct == 49 * 25 * 256 * 128
  assert spectral < 0.25 * direct    # 45 bins of 9x9 (rfft 9x5)
  assert fft_conv.is_worthwhile((7, 7), (5, 5), same5, (256, 128))
  assert not fft_conv.is_worthwhile((32, 32), (3, 3), ((1, 1), (1, 1)), (128, 128))
  assert not fft_conv.is_worthwhile((7, 7), (5, 5), same5, (4, 6))   # transforms dominate
  assert not fft_conv.is_worthwhile((7, 7), (5, 5), ((5, 0), (2, 2)), (256, 128))  # pad > k-1


@pytest.mark.parametrize("n_in,n_out,kernel,pad_lo,want", [
    (7, 7, 5, 2, 9), (14, 14, 5, 2, 16), (8, 5, 4, 0, 8), (12, 12, 5, 4, 16)])
def test_spectral_size_is_the_smallest_without_wraparound(n_in, n_out, kernel, pad_lo, want):
  """One smaller and some kept output would alias another: checked by brute force."""
  assert fft_conv.spectral_size(n_in, n_out, kernel, pad_lo) == want
  # Nonzero lags of the linear correlation, and the lags the output keeps.
  lags = range(-(kernel - 1), n_in)
  kept = range(-pad_lo, n_out - pad_lo)
  aliases = lambda p: any((s - t) % p == 0 for s in kept for t in lags if t != s)
  assert not aliases(want) and aliases(want - 1)
