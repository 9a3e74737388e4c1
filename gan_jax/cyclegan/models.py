"""CycleGAN's networks, shrunk for 28x28 images (Zhu et al. 2017, Appendix 7.2).

Generator (the paper's ResNet generator, Johnson et al. 2016), f = `features`,
d = `num_downsamplings`, r = `num_res_blocks`:
  c7s1-f                       Conv 7x7 stride 1, InstanceNorm, ReLU   [H, W, f]
  d(2^k f), k = 1..d           Conv 3x3 stride 2, InstanceNorm, ReLU   [H/2^k, W/2^k, 2^k f]
  R(2^d f) x r                 residual blocks: x + IN(Conv3x3(ReLU(IN(Conv3x3(x)))))
  u(2^k f), k = d-1..0         ConvTranspose 3x3 stride 2, InstanceNorm, ReLU
  c7s1-C                       Conv 7x7 stride 1, tanh                [H, W, C]
With d = 2 a 28x28 image is processed at 7x7 by the residual blocks.
Discriminator (a 70x70 PatchGAN in the paper; here C64-C128-C256 shrunk):
  C(f)       Conv 4x4 stride 2, LeakyReLU(0.2), no norm on the first layer
  C(2^k f)   Conv 4x4 stride 2, InstanceNorm, LeakyReLU(0.2), k = 1..d-1
  C(2^d f)   Conv 4x4 stride 1, InstanceNorm, LeakyReLU(0.2)
  Conv 4x4 stride 1 to one channel: patch logits [B, H/2^d, W/2^d]
(d = `num_downsamplings`; 7x7 patch logits of a 28x28 image with d = 2, each
seeing a 22x22-pixel window.)

Instance norm as in the paper (affine-free, as the reference code's
`InstanceNorm2d(affine=False)`): it normalises each example on its own, so a
batch holds independent examples and the fake pool may mix images of different
generator versions into D's batch without coupling them. Convolutions followed
by instance norm have no bias (the norm removes it). Differences from the
paper: zero 'SAME' padding instead of reflection padding, fewer and narrower
layers, and a smaller patch discriminator, all for 28x28 images on a CPU.

The (transposed) convolution constructors are injected (`conv`,
`conv_transpose`; `gan_jax.conv.conv_modules(config.model.conv_impl)` in
cyclegan/state.py: 'auto' is the fast CPU path on a CPU and XLA's own on GPU);
every choice has the same parameter tree.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

LEAKY_SLOPE = 0.2
NORM_EPSILON = 1e-5


def instance_norm() -> nn.Module:
  """Affine-free instance norm over H, W per example and channel."""
  return nn.InstanceNorm(epsilon=NORM_EPSILON, use_scale=False, use_bias=False)


def _check_image(x: jax.Array, num_downsamplings: int, where: str) -> None:
  if x.ndim != 4:
    raise ValueError(f"{where} takes images [B, H, W, C], got shape {x.shape}")
  factor = 2 ** num_downsamplings
  if x.shape[1] % factor or x.shape[2] % factor:
    raise ValueError(f"{where}: image size {x.shape[1]}x{x.shape[2]} is not divisible by "
                     f"2^num_downsamplings = {factor}; choose num_downsamplings with "
                     "2^num_downsamplings dividing both sides")


class ResnetGenerator(nn.Module):
  """images [B, H, W, C] in [-1, 1] -> images [B, H, W, C] in (-1, 1).

  Attributes:
    features: channels f of the first layer (doubled at each downsampling).
    num_downsamplings: stride-2 convolutions d (and as many upsamplings).
    num_res_blocks: residual blocks r at the lowest resolution.
    conv, conv_transpose: the convolution constructors (`gan_jax.conv.conv_modules`;
      flax's own by default).
  """
  features: int = 32
  num_downsamplings: int = 2
  num_res_blocks: int = 3
  conv: Callable[..., nn.Module] = nn.Conv
  conv_transpose: Callable[..., nn.Module] = nn.ConvTranspose

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    _check_image(x, self.num_downsamplings, "ResnetGenerator")
    conv, conv_transpose = self.conv, self.conv_transpose
    channels = x.shape[-1]
    h = nn.relu(instance_norm()(conv(self.features, (7, 7), strides=(1, 1), padding="SAME",
                                     use_bias=False)(x)))
    for k in range(1, self.num_downsamplings + 1):
      h = conv(self.features * 2**k, (3, 3), strides=(2, 2), padding="SAME", use_bias=False)(h)
      h = nn.relu(instance_norm()(h))
    width = self.features * 2**self.num_downsamplings
    for _ in range(self.num_res_blocks):
      y = conv(width, (3, 3), strides=(1, 1), padding="SAME", use_bias=False)(h)
      y = nn.relu(instance_norm()(y))
      y = conv(width, (3, 3), strides=(1, 1), padding="SAME", use_bias=False)(y)
      h = h + instance_norm()(y)
    for k in reversed(range(self.num_downsamplings)):
      h = conv_transpose(self.features * 2**k, (3, 3), strides=(2, 2), padding="SAME",
                         use_bias=False)(h)
      h = nn.relu(instance_norm()(h))
    h = conv(channels, (7, 7), strides=(1, 1), padding="SAME", use_bias=True)(h)
    return jnp.tanh(h)


class PatchDiscriminator(nn.Module):
  """images [B, H, W, C] -> patch logits [B, H / 2^d, W / 2^d].

  Attributes:
    features: channels f of the first layer (doubled at each later layer).
    num_downsamplings: stride-2 convolutions d (>= 1).
    conv: the convolution constructor (`gan_jax.conv.conv_modules`; flax's own by default).
  """
  features: int = 32
  num_downsamplings: int = 2
  conv: Callable[..., nn.Module] = nn.Conv

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.num_downsamplings < 1:
      raise ValueError(f"PatchDiscriminator needs num_downsamplings >= 1, got "
                       f"{self.num_downsamplings}")
    _check_image(x, self.num_downsamplings, "PatchDiscriminator")
    conv = self.conv
    h = nn.leaky_relu(conv(self.features, (4, 4), strides=(2, 2), padding="SAME")(x),
                      LEAKY_SLOPE)
    for k in range(1, self.num_downsamplings + 1):
      stride = 2 if k < self.num_downsamplings else 1
      h = conv(self.features * 2**k, (4, 4), strides=(stride, stride), padding="SAME",
               use_bias=False)(h)
      h = nn.leaky_relu(instance_norm()(h), LEAKY_SLOPE)
    return conv(1, (4, 4), strides=(1, 1), padding="SAME")(h)[..., 0]
