"""Generator / discriminator pairs, picked by name from the MODELS registry.

`build_models(model_config, sample_shape)` returns `(generator, discriminator)`
flax modules with the calling convention every step relies on:
  generator(z [B, latent_dim], train=bool) -> samples [B, *sample_shape]
  discriminator(x [B, *sample_shape], train=bool) -> logits [B]
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import ml_collections

from gan_jax.models.dcgan import DCGAN28Discriminator, DCGAN28Generator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.registry import Registry

ModelPair = tuple[nn.Module, nn.Module]
MODELS: Registry[Callable[[ml_collections.ConfigDict, tuple[int, ...]], ModelPair]] = (
    Registry("model"))


@MODELS.register("dcgan28")
def _dcgan28(config: ml_collections.ConfigDict, sample_shape: tuple[int, ...]) -> ModelPair:
  if tuple(sample_shape) != (28, 28, 1):
    raise ValueError(f"dcgan28 needs 28x28x1 images, got samples of shape {sample_shape}")
  return DCGAN28Generator(), DCGAN28Discriminator(dropout_rate=config.dropout_rate)


@MODELS.register("mlp")
def _mlp(config: ml_collections.ConfigDict, sample_shape: tuple[int, ...]) -> ModelPair:
  return (MLPGenerator(output_shape=tuple(sample_shape), hidden=tuple(config.g_hidden),
                       output_activation=config.output_activation),
          MLPDiscriminator(hidden=tuple(config.d_hidden), dropout_rate=config.dropout_rate,
                           batch_norm=config.d_batch_norm))


def build_models(config: ml_collections.ConfigDict,
                 sample_shape: Sequence[int]) -> ModelPair:
  """Builds the (generator, discriminator) pair named by `config.name`.

  Args:
    config: the `model` block of the experiment config.
    sample_shape: shape of one data sample, e.g. (28, 28, 1) or (2,).

  Raises:
    ValueError: for an unknown model name (listing valid names) or a data shape
      the model cannot produce.
  """
  return MODELS.get(config.name)(config, tuple(sample_shape))
