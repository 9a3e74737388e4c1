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

from gan_jax import conv as conv_lib
from gan_jax.models.dcgan import DCGAN28Discriminator, DCGAN28Generator
from gan_jax.models.dcgan_conv import DCGANDiscriminator, DCGANGenerator, check_d_norm
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.models.resnet import ResNetDiscriminator, ResNetGenerator
from gan_jax.registry import Registry

ModelPair = tuple[nn.Module, nn.Module]
MODELS: Registry[Callable[[ml_collections.ConfigDict, tuple[int, ...]], ModelPair]] = (
    Registry("model"))


@MODELS.register("dcgan28")
def _dcgan28(config: ml_collections.ConfigDict, sample_shape: tuple[int, ...], *,
             axis_name: str | None = None) -> ModelPair:
  if tuple(sample_shape) != (28, 28, 1):
    raise ValueError(f"dcgan28 needs 28x28x1 images, got samples of shape {sample_shape}")
  conv, conv_transpose = conv_lib.conv_modules(config.conv_impl)  # fails at start-up
  return (DCGAN28Generator(conv_transpose=conv_transpose, axis_name=axis_name),
          DCGAN28Discriminator(dropout_rate=config.dropout_rate, conv=conv))


@MODELS.register("mlp")
def _mlp(config: ml_collections.ConfigDict, sample_shape: tuple[int, ...], *,
         axis_name: str | None = None) -> ModelPair:
  return (MLPGenerator(output_shape=tuple(sample_shape), hidden=tuple(config.g_hidden),
                       output_activation=config.output_activation,
                       vbn_reference_size=config.vbn_reference_size),
          MLPDiscriminator(hidden=tuple(config.d_hidden), dropout_rate=config.dropout_rate,
                           batch_norm=config.d_batch_norm,
                           minibatch_kernels=config.minibatch_kernels,
                           minibatch_kernel_dim=config.minibatch_kernel_dim,
                           axis_name=axis_name))


def _square_image(name: str, sample_shape: tuple[int, ...], sizes: tuple[int, ...]) -> int:
  """The side of [S, S, C] samples if S is one of `sizes`; ValueError otherwise."""
  if (len(sample_shape) != 3 or sample_shape[0] != sample_shape[1]
      or sample_shape[0] not in sizes):
    raise ValueError(f"{name} needs square images [S, S, C] with S in {sizes}, got samples "
                     f"of shape {sample_shape}")
  return sample_shape[0]


def _dcgan(size: int):
  """The factory of DCGAN-<size> (fields nf, d_norm, conv_impl)."""
  def factory(config: ml_collections.ConfigDict, sample_shape: tuple[int, ...], *,
              axis_name: str | None = None) -> ModelPair:
    _square_image(f"dcgan{size}", sample_shape, (size,))
    conv, conv_transpose = conv_lib.conv_modules(config.conv_impl)
    return (DCGANGenerator(image_size=size, channels=sample_shape[-1], nf=config.nf,
                           conv_transpose=conv_transpose, axis_name=axis_name),
            DCGANDiscriminator(image_size=size, nf=config.nf, d_norm=check_d_norm(config.d_norm),
                               conv=conv, axis_name=axis_name))
  return factory


MODELS.register("dcgan32", _dcgan(32))
MODELS.register("dcgan64", _dcgan(64))


@MODELS.register("resnet")
def _resnet(config: ml_collections.ConfigDict, sample_shape: tuple[int, ...], *,
            axis_name: str | None = None) -> ModelPair:
  del axis_name  # No batch norm.
  size = _square_image("resnet", sample_shape, (32, 64, 128, 256))
  conv, _ = conv_lib.conv_modules(config.conv_impl)
  widths = dict(image_size=size, nf=config.nf, nf_max=config.nf_max,
                res_ratio=config.res_ratio, conv=conv)
  return (ResNetGenerator(channels=sample_shape[-1], **widths), ResNetDiscriminator(**widths))


def build_models(config: ml_collections.ConfigDict, sample_shape: Sequence[int], *,
                 axis_name: str | None = None) -> ModelPair:
  """Builds the (generator, discriminator) pair named by `config.name`.

  Args:
    config: the `model` block of the experiment config.
    sample_shape: shape of one data sample, e.g. (28, 28, 1) or (2,).
    axis_name: device axis for batch-norm statistics under data parallelism.

  Raises:
    ValueError: for an unknown model name (listing valid names) or a data shape
      the model cannot produce.
  """
  return MODELS.get(config.name)(config, tuple(sample_shape), axis_name=axis_name)
