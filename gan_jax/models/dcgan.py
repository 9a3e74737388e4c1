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
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

LEAKY_SLOPE = 0.3
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


def leaky_relu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)


class DCGAN28Generator(nn.Module):
  """z [B, latent_dim] -> images [B, 28, 28, 1] in [-1, 1]."""

  @nn.compact
  def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
    bn = functools.partial(nn.BatchNorm, use_running_average=not train,
                           momentum=BN_MOMENTUM, epsilon=BN_EPSILON)
    x = nn.Dense(7 * 7 * 256, use_bias=False)(z)
    x = leaky_relu(bn()(x))
    x = x.reshape((z.shape[0], 7, 7, 256))
    for features, stride in ((128, 1), (64, 2)):
      x = nn.ConvTranspose(features, (5, 5), strides=(stride, stride),
                           padding="SAME", use_bias=False)(x)
      x = leaky_relu(bn()(x))
    x = nn.ConvTranspose(1, (5, 5), strides=(2, 2), padding="SAME",
                         use_bias=False)(x)
    return jnp.tanh(x)


class DCGAN28Discriminator(nn.Module):
  """images [B, 28, 28, C] -> logits [B]."""
  dropout_rate: float = 0.3

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    for features in (64, 128):
      x = nn.Conv(features, (5, 5), strides=(2, 2), padding="SAME")(x)
      x = leaky_relu(x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(1)(x)[:, 0]
