"""DCGAN-28: the TensorFlow DCGAN tutorial pair used by the seed-000 report.

Generator (2,305,472 trainable parameters, plus 25,472 batch-norm statistics):
  Dense(7*7*256, no bias) - BN - LeakyReLU - reshape [7, 7, 256]
  ConvT(128, 5, stride 1, no bias) - BN - LeakyReLU        [7, 7, 128]
  ConvT(64, 5, stride 2, no bias) - BN - LeakyReLU         [14, 14, 64]
  ConvT(1, 5, stride 2, no bias) - tanh                    [28, 28, 1]
Discriminator (212,865 parameters):
  Conv(64, 5, stride 2) - LeakyReLU - Dropout(0.3)         [14, 14, 64]
  Conv(128, 5, stride 2) - LeakyReLU - Dropout(0.3)        [7, 7, 128]
  Flatten - Dense(1)                                        [B]

Keras defaults are kept on purpose so numbers compare with the seed:
LeakyReLU slope 0.3, batch-norm momentum 0.99 and epsilon 1e-3, 'SAME' padding.

`config.model.conv_impl` picks how the (transposed) convolutions are computed (see
`gan_jax.conv.layers`): 'xla' uses the stock flax layers; 'im2col' and
'xla_vjp' avoid the convolutions XLA's CPU backend runs slowly (strided kernel
gradients, double backprop), which roughly halves a train step on CPU; 'fft'
(the base config's) also runs the 5x5 7x7x256 -> 7x7x128 layer by DFT matmuls
(`fft_conv`), 4-5x fewer FLOPs for G's largest layer. Every
implementation has the same parameter tree (layers keep flax's names Conv_i /
ConvTranspose_i), so parameters and checkpoints are interchangeable.
"""

from __future__ import annotations

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

LEAKY_SLOPE = 0.3
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


def leaky_relu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)


class DCGAN28Generator(nn.Module):
  """z [B, latent_dim] -> images [B, 28, 28, 1] in [-1, 1].

  Attributes:
    conv_transpose: the transposed-convolution constructor
      (`gan_jax.conv.conv_modules`; flax's own by default).
    axis_name: device axis over which batch-norm statistics are averaged
      (data parallelism), or None.
  """
  conv_transpose: Callable[..., nn.Module] = nn.ConvTranspose
  axis_name: str | None = None

  @nn.compact
  def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
    bn = functools.partial(nn.BatchNorm, use_running_average=not train,
                           momentum=BN_MOMENTUM, epsilon=BN_EPSILON, axis_name=self.axis_name)
    x = nn.Dense(7 * 7 * 256, use_bias=False)(z)
    x = leaky_relu(bn()(x))
    x = x.reshape((z.shape[0], 7, 7, 256))
    for i, (features, stride) in enumerate(((128, 1), (64, 2))):
      x = self.conv_transpose(features, (5, 5), strides=(stride, stride), padding="SAME",
                         use_bias=False, name=f"ConvTranspose_{i}")(x)
      x = leaky_relu(bn()(x))
    x = self.conv_transpose(1, (5, 5), strides=(2, 2), padding="SAME", use_bias=False,
                       name="ConvTranspose_2")(x)
    return jnp.tanh(x)


class DCGAN28Discriminator(nn.Module):
  """images [B, 28, 28, C] -> logits [B].

  With `with_features=True`: (logits [B], phi(x) [B, F]), the features the
  last linear layer reads (`gan_jax.conditioning`'s projection and class head).

  Attributes:
    dropout_rate: dropout after each convolution (train mode only).
    conv: the convolution constructor (`gan_jax.conv.conv_modules`; flax's own by
      default).
  """
  dropout_rate: float = 0.3
  conv: Callable[..., nn.Module] = nn.Conv

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool, with_features: bool = False):
    for i, features in enumerate((64, 128)):
      x = self.conv(features, (5, 5), strides=(2, 2), padding="SAME", name=f"Conv_{i}")(x)
      x = leaky_relu(x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = x.reshape((x.shape[0], -1))
    logits = nn.Dense(1)(x)[:, 0]
    return (logits, x) if with_features else logits
