"""Fully connected generator / discriminator pairs.

Used for the seed-004 "vanilla" MLP GANs on 28x28 images and, with small widths,
for the 2-D toy distributions (see `toy.py`). No batch norm anywhere, so every
gradient penalty applies.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models.batch_layers import MinibatchDiscrimination, VirtualBatchNorm

VBN_REFERENCE_SEED = 0x7B7  # the reference latents are fixed for the whole run


def reference_latents(num: int, latent_dim: int) -> jax.Array:
  """The fixed reference batch [num, latent_dim] of virtual batch norm."""
  return jax.random.normal(jax.random.PRNGKey(VBN_REFERENCE_SEED), (num, latent_dim))


class MLPGenerator(nn.Module):
  """z [B, latent_dim] -> samples [B, *output_shape].

  Attributes:
    output_shape: shape of one sample, e.g. (28, 28, 1) or (2,).
    hidden: widths of the hidden layers.
    output_activation: 'tanh' for images in [-1, 1], 'none' for toy data.
    vbn_reference_size: > 0 adds virtual batch norm after each hidden Dense,
      with a fixed reference batch of that many latents.
  """
  output_shape: Sequence[int]
  hidden: Sequence[int] = (256, 512, 1024)
  output_activation: str = "tanh"
  vbn_reference_size: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
    del train  # No train/eval difference: no batch norm or dropout.
    r = self.vbn_reference_size
    batch = z.shape[0]
    x = jnp.concatenate([reference_latents(r, z.shape[-1]), z]) if r else z
    for width in self.hidden:
      x = nn.Dense(width)(x)
      if r:
        x = VirtualBatchNorm(reference_size=r)(x)
      x = nn.leaky_relu(x, negative_slope=0.2)
    x = x[r:]
    x = nn.Dense(int(np.prod(self.output_shape)))(x)
    if self.output_activation == "tanh":
      x = jnp.tanh(x)
    elif self.output_activation != "none":
      raise ValueError(f"Unknown output_activation {self.output_activation!r}; "
                       "valid choices: none, tanh")
    return x.reshape((batch, *self.output_shape))


class MLPDiscriminator(nn.Module):
  """samples [B, ...] -> logits [B].

  With `with_features=True`: (logits [B], phi(x) [B, F]), the features the
  last linear layer reads (`gan_jax.conditioning`'s projection and class head).

  Attributes:
    hidden: widths of the hidden layers.
    dropout_rate: dropout after each hidden layer (0 disables it).
    batch_norm: batch norm after each hidden Dense (mixes the examples of a
      batch, so gradient penalties refuse such a D).
    minibatch_kernels: > 0 adds minibatch discrimination with that many
      kernels (of `minibatch_kernel_dim`) before the output layer.
  """
  hidden: Sequence[int] = (1024, 512, 256)
  dropout_rate: float = 0.0
  batch_norm: bool = False
  minibatch_kernels: int = 0
  minibatch_kernel_dim: int = 5
  axis_name: str | None = None  # batch-norm statistics across devices

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool, with_features: bool = False):
    x = x.reshape((x.shape[0], -1))
    for width in self.hidden:
      x = nn.Dense(width)(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, axis_name=self.axis_name)(x)
      x = nn.leaky_relu(x, negative_slope=0.2)
      if self.dropout_rate > 0:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    features = x
    if self.minibatch_kernels:
      x = MinibatchDiscrimination(self.minibatch_kernels, self.minibatch_kernel_dim)(x)
    logits = nn.Dense(1)(x)[:, 0]
    return (logits, features) if with_features else logits
