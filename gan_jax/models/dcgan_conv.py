"""DCGAN-32 and DCGAN-64 (Radford et al., 2016) for 32x32 and 64x64 images.

One pair of modules covers both sizes; the 4x4 feature map has 8*nf channels
and the width halves at each doubling of resolution (channels at resolution r
are 32*nf/r). For 64x64 and nf = 64 (PyTorch's DCGAN example):

Generator (3,576,704 parameters for latent 100, C = 3, as PyTorch's example):
  Dense(4*4*8nf) - reshape - BN - ReLU         [4, 4, 512]
  ConvT(4nf, 4, stride 2) - BN - ReLU           [8, 8, 256]
  ConvT(2nf, 4, stride 2) - BN - ReLU           [16, 16, 128]
  ConvT(nf, 4, stride 2) - BN - ReLU            [32, 32, 64]
  ConvT(C, 4, stride 2) - tanh                  [64, 64, C]
Discriminator (2,765,568 parameters with `d_norm` = batch_norm):
  Conv(nf, 4, stride 2) - LeakyReLU(0.2)        [32, 32, 64]
  Conv(2nf, 4, stride 2) - BN - LeakyReLU(0.2)  [16, 16, 128]
  Conv(4nf, 4, stride 2) - BN - LeakyReLU(0.2)  [8, 8, 256]
  Conv(8nf, 4, stride 2) - BN - LeakyReLU(0.2)  [4, 4, 512]
  Flatten - Dense(1)  (= Conv(1, 4, 'VALID'))   [B]
No layer has a bias (batch norm's shift takes its place), except the inner
convolutions of a D with `d_norm` = none. Batch norm normalises per channel.
DCGAN-32 drops the widest-resolution layer of each: G ends 16x16x2nf -> 32x32xC
and D starts with Conv(2nf) at 16x16.

`d_norm` picks the discriminator's normalisation of the inner layers:
  batch_norm  as in the paper. It mixes the examples of a batch, so gradient
              penalties (WGAN-GP, R1, ...) refuse such a D.
  layer_norm  per-example normalisation over (H, W, C) with a per-channel scale
              and bias, as in WGAN-GP's critic.
  none        no normalisation.
Both networks draw weights from N(0, 0.02) as in the paper (biases and
batch-norm scales start at 0 and 1). Batch norm uses PyTorch's defaults
(momentum 0.1 -> flax 0.9, epsilon 1e-5).

`config.model.conv_impl` picks how the convolutions are computed (see
`gan_jax.conv.layers`); every implementation has the same parameter tree.
"""

from __future__ import annotations

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

LEAKY_SLOPE = 0.2
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
D_NORMS = ("batch_norm", "layer_norm", "none")
BASE_SIZE = 4
WEIGHT_INIT = nn.initializers.normal(0.02)


def num_upsamplings(image_size: int) -> int:
  """Stride-2 layers between the 4x4 base and `image_size` (3 for 32, 4 for 64).

  Raises:
    ValueError: `image_size` is not 4 * 2^k with k >= 1.
  """
  k = (image_size // BASE_SIZE).bit_length() - 1
  if image_size < 2 * BASE_SIZE or BASE_SIZE * 2**k != image_size:
    raise ValueError(f"DCGAN needs an image size 4 * 2^k >= 8, got {image_size}")
  return k


def channels_at(resolution: int, nf: int) -> int:
  """Feature channels at a square resolution: 8*nf at 4x4, halving per doubling."""
  return 8 * nf * BASE_SIZE // resolution


def check_d_norm(d_norm: str) -> str:
  """Returns `d_norm` if valid.

  Raises:
    ValueError: listing the valid names.
  """
  if d_norm not in D_NORMS:
    raise ValueError(f"Unknown d_norm {d_norm!r}; valid choices: {', '.join(D_NORMS)}")
  return d_norm


class DCGANGenerator(nn.Module):
  """z [B, latent_dim] -> images [B, image_size, image_size, channels] in [-1, 1].

  Attributes:
    image_size: output height and width, 4 * 2^k (32 or 64 for the registry).
    channels: output channels C.
    nf: base width; the 4x4 map has 8*nf channels.
    conv_transpose: the transposed-convolution constructor
      (`gan_jax.conv.conv_modules`; flax's own by default).
    axis_name: device axis over which batch norm averages its batch statistics
      under data parallelism (None: this device's batch only).
  """
  image_size: int = 64
  channels: int = 3
  nf: int = 64
  conv_transpose: Callable[..., nn.Module] = nn.ConvTranspose
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
    bn = functools.partial(nn.BatchNorm, use_running_average=not train,
                           momentum=BN_MOMENTUM, epsilon=BN_EPSILON, axis_name=self.axis_name)
    k = num_upsamplings(self.image_size)
    width = channels_at(BASE_SIZE, self.nf)
    x = nn.Dense(BASE_SIZE * BASE_SIZE * width, use_bias=False, kernel_init=WEIGHT_INIT,
                 name="Dense_0")(z)
    x = x.reshape((z.shape[0], BASE_SIZE, BASE_SIZE, width))
    x = nn.relu(bn(name="BatchNorm_0")(x))
    resolution = BASE_SIZE
    for i in range(k - 1):
      resolution *= 2
      x = self.conv_transpose(channels_at(resolution, self.nf), (4, 4), strides=(2, 2),
                         padding="SAME", use_bias=False, kernel_init=WEIGHT_INIT,
                         name=f"ConvTranspose_{i}")(x)
      x = nn.relu(bn(name=f"BatchNorm_{i + 1}")(x))
    x = self.conv_transpose(self.channels, (4, 4), strides=(2, 2), padding="SAME",
                       use_bias=False, kernel_init=WEIGHT_INIT,
                       name=f"ConvTranspose_{k - 1}")(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """images [B, image_size, image_size, C] -> logits [B].

  With `with_features=True`: (logits [B], phi(x) [B, F]), the features the
  last linear layer reads (`gan_jax.conditioning`'s projection and class head).

  Attributes:
    image_size: input height and width, 4 * 2^k.
    nf: base width; the last (4x4) map has 8*nf channels.
    d_norm: normalisation of the inner layers, one of `D_NORMS`.
    conv: the convolution constructor (`gan_jax.conv.conv_modules`; flax's own by
      default).
    axis_name: batch norm's device axis (see `DCGANGenerator`).
  """
  image_size: int = 64
  nf: int = 64
  d_norm: str = "batch_norm"
  conv: Callable[..., nn.Module] = nn.Conv
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool, with_features: bool = False):
    d_norm = check_d_norm(self.d_norm)
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"DCGAN discriminator built for {self.image_size}x{self.image_size} "
                       f"images got input of shape {x.shape}")
    resolution = self.image_size
    for i in range(num_upsamplings(self.image_size)):
      resolution //= 2
      normalise = i > 0 and d_norm != "none"
      x = self.conv(channels_at(resolution, self.nf), (4, 4), strides=(2, 2),
               padding=((1, 1), (1, 1)), use_bias=i > 0 and d_norm == "none",
               kernel_init=WEIGHT_INIT, name=f"Conv_{i}")(x)
      if normalise and d_norm == "batch_norm":
        x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                         epsilon=BN_EPSILON, axis_name=self.axis_name,
                         name=f"BatchNorm_{i}")(x)
      elif normalise:
        x = nn.LayerNorm(epsilon=BN_EPSILON, reduction_axes=(-3, -2, -1), feature_axes=-1,
                         name=f"LayerNorm_{i}")(x)
      x = nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)
    x = x.reshape((x.shape[0], -1))
    logits = nn.Dense(1, use_bias=False, kernel_init=WEIGHT_INIT, name="Dense_0")(x)[:, 0]
    return (logits, x) if with_features else logits
