"""The ResNet pair of Mescheder et al. (2018), "Which training methods for GANs
do actually converge?" (GAN_stability, `gan_training/models/resnet.py`).

For an image size S = 4 * 2^k (k = 3 for 32x32, 4 for 64x64) and widths
w(j) = min(nf * 2^j, nf_max):

Generator:
  Dense(4*4*w(k)) - reshape                                  [4, 4, w(k)]
  for j = k, ..., 1: ResnetBlock(w(j) -> w(j-1)) - upsample  (nearest, x2)
  ResnetBlock(nf -> nf) - LeakyReLU - Conv(C, 3) - tanh      [S, S, C]
Discriminator:
  Conv(nf, 3)                                                [S, S, nf]
  ResnetBlock(nf -> nf)
  for j = 0, ..., k-1: avg-pool(3, stride 2, pad 1) - ResnetBlock(w(j) -> w(j+1))
  reshape [B, 4*4*w(k)] - LeakyReLU - Dense(1)               [B]
ResnetBlock(fin -> fout): x_s + res_ratio * Conv3(LReLU(Conv3(LReLU(x)))), the
hidden width min(fin, fout), the shortcut x_s a learned bias-free 1x1 conv when
fin != fout (identity otherwise). LeakyReLU slope 0.2 everywhere.

No normalisation in either network, so the discriminator treats examples
independently and R1 / R2 / WGAN-GP apply. The paper's networks are
class-conditional through a unit-norm label embedding concatenated to z; with
one class that input is a constant, which the first Dense's bias absorbs, so
this unconditional version leaves it out (and D's output is its single logit).
The average pool counts padding (PyTorch's default), i.e. always divides by 9.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

LEAKY_SLOPE = 0.2
BASE_SIZE = 4


def leaky_relu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)


def num_levels(image_size: int) -> int:
  """Resolution doublings between 4x4 and `image_size` (3 for 32, 4 for 64).

  Raises:
    ValueError: `image_size` is not 4 * 2^k with k >= 1.
  """
  k = (image_size // BASE_SIZE).bit_length() - 1
  if image_size < 2 * BASE_SIZE or BASE_SIZE * 2**k != image_size:
    raise ValueError(f"The ResNet needs an image size 4 * 2^k >= 8, got {image_size}")
  return k


def width(level: int, nf: int, nf_max: int) -> int:
  """Channels of level j: min(nf * 2^j, nf_max)."""
  return min(nf * 2**level, nf_max)


class ResnetBlock(nn.Module):
  """x [B, H, W, fin] -> [B, H, W, features]: shortcut + res_ratio * residual.

  Attributes:
    features: output channels fout.
    res_ratio: scale of the residual branch (0.1 in the paper).
    conv: the convolution constructor (`gan_jax.conv.conv_modules`; flax's own by
      default).
  """
  features: int
  res_ratio: float = 0.1
  conv: Callable[..., nn.Module] = nn.Conv

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fin = x.shape[-1]
    hidden = min(fin, self.features)
    shortcut = x
    if fin != self.features:
      shortcut = self.conv(self.features, (1, 1), use_bias=False, name="conv_s")(x)
    dx = self.conv(hidden, (3, 3), padding="SAME", name="conv_0")(leaky_relu(x))
    dx = self.conv(self.features, (3, 3), padding="SAME", name="conv_1")(leaky_relu(dx))
    return shortcut + self.res_ratio * dx


def upsample_nearest(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, 2H, 2W, C], each pixel repeated 2x2."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avg_pool_3x3_stride2(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, H/2, W/2, C]: 3x3 mean, stride 2, zero padding 1 counted."""
  return nn.avg_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
                     count_include_pad=True)


class ResNetGenerator(nn.Module):
  """z [B, latent_dim] -> images [B, image_size, image_size, channels] in [-1, 1].

  Attributes:
    image_size: output height and width, 4 * 2^k.
    channels: output channels C.
    nf: width at full resolution.
    nf_max: cap on the width.
    res_ratio: residual branch scale.
    conv: the convolution constructor (`gan_jax.conv.conv_modules`; flax's own by
      default).
  """
  image_size: int = 64
  channels: int = 3
  nf: int = 64
  nf_max: int = 512
  res_ratio: float = 0.1
  conv: Callable[..., nn.Module] = nn.Conv

  @nn.compact
  def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
    del train  # No batch norm or dropout.
    k = num_levels(self.image_size)
    w0 = width(k, self.nf, self.nf_max)
    x = nn.Dense(BASE_SIZE * BASE_SIZE * w0, name="fc")(z)
    x = x.reshape((z.shape[0], BASE_SIZE, BASE_SIZE, w0))
    for i, level in enumerate(range(k, 0, -1)):
      x = ResnetBlock(width(level - 1, self.nf, self.nf_max), self.res_ratio, conv=self.conv,
                      name=f"block_{i}")(x)
      x = upsample_nearest(x)
    x = ResnetBlock(self.nf, self.res_ratio, conv=self.conv, name=f"block_{k}")(x)
    x = self.conv(self.channels, (3, 3), padding="SAME", name="conv_img")(leaky_relu(x))
    return jnp.tanh(x)


class ResNetDiscriminator(nn.Module):
  """images [B, image_size, image_size, C] -> logits [B].

  With `with_features=True`: (logits [B], phi(x) [B, F]), the features the
  last linear layer reads (`gan_jax.conditioning`'s projection and class head).

  Attributes:
    image_size: input height and width, 4 * 2^k.
    nf: width at full resolution.
    nf_max: cap on the width.
    res_ratio: residual branch scale.
    conv: the convolution constructor (`gan_jax.conv.conv_modules`; flax's own by
      default).
  """
  image_size: int = 64
  nf: int = 64
  nf_max: int = 512
  res_ratio: float = 0.1
  conv: Callable[..., nn.Module] = nn.Conv

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool, with_features: bool = False):
    del train  # No batch norm or dropout: examples are independent.
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"ResNet discriminator built for {self.image_size}x{self.image_size} "
                       f"images got input of shape {x.shape}")
    k = num_levels(self.image_size)
    x = self.conv(self.nf, (3, 3), padding="SAME", name="conv_img")(x)
    x = ResnetBlock(self.nf, self.res_ratio, conv=self.conv, name="block_0")(x)
    for level in range(k):
      x = avg_pool_3x3_stride2(x)
      x = ResnetBlock(width(level + 1, self.nf, self.nf_max), self.res_ratio, conv=self.conv,
                      name=f"block_{level + 1}")(x)
    x = leaky_relu(x.reshape((x.shape[0], -1)))
    logits = nn.Dense(1, name="fc")(x)[:, 0]
    return (logits, x) if with_features else logits
