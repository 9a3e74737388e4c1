"""Generator / discriminator pairs, picked by name from the MODELS registry.

`build_models(model_config, sample_shape)` returns `(generator, discriminator)`
flax modules with the calling convention every step relies on:
  generator(z [B, latent_dim], train=bool) -> samples [B, *sample_shape]
  discriminator(x [B, *sample_shape], train=bool) -> logits [B]
  discriminator(x, train=bool, with_features=True) -> (logits [B], phi(x) [B, F])
Class-conditional pairs wrap these (`gan_jax.conditioning`).

The `model` config block holds the fields every model takes (`name`,
`latent_dim`, `conv_impl`: how convolutions are computed, where a model has
them, and `d_spectral_norm`: D with spectrally normalized weights, see
`spectral_norm`) and one block per model family (`model.dcgan28`, `model.dcgan` for
dcgan32 / dcgan64, `model.resnet`, `model.mlp`). A family is registered with
the block it reads; a field of another block set away from its default is an
error that names the fields the chosen model takes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import flax.linen as nn
import ml_collections

from gan_jax import conditioning as conditioning_lib
from gan_jax import config_checks
from gan_jax import conv as conv_lib
from gan_jax.errors import ConfigError
from gan_jax.models.dcgan import DCGAN28Discriminator, DCGAN28Generator
from gan_jax.models.dcgan_conv import DCGANDiscriminator, DCGANGenerator, check_d_norm
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.models.resnet import ResNetDiscriminator, ResNetGenerator
from gan_jax.models.spectral_norm import SpectralNormalized
from gan_jax.registry import Registry

ModelPair = tuple[nn.Module, nn.Module]
SHARED_FIELDS = ("name", "latent_dim", "conv_impl", "d_spectral_norm")


@dataclasses.dataclass(frozen=True)
class ModelFamily:
  """A registered model: `build(block, sample_shape, convs=, axis_name=)` makes
  the (G, D) pair from its config block `config.model.<block>`, with `convs`
  the (conv, conv_transpose) constructors that `conv_impl` picks."""
  build: Callable[..., ModelPair]
  block: str


MODELS: Registry[ModelFamily] = Registry("model")


def register(name: str, *, block: str):
  """Decorator: registers `build` as model `name`, reading `config.model.<block>`."""
  def add(build: Callable[..., ModelPair]) -> Callable[..., ModelPair]:
    MODELS.register(name, ModelFamily(build=build, block=block))
    return build
  return add


Convs = tuple[Callable[..., nn.Module], Callable[..., nn.Module]]  # (conv, conv_transpose)


@register("dcgan28", block="dcgan28")
def _dcgan28(block: ml_collections.ConfigDict, sample_shape: tuple[int, ...], *, convs: Convs,
             axis_name: str | None) -> ModelPair:
  if tuple(sample_shape) != (28, 28, 1):
    raise ValueError(f"dcgan28 needs 28x28x1 images, got samples of shape {sample_shape}")
  conv, conv_transpose = convs
  return (DCGAN28Generator(conv_transpose=conv_transpose, axis_name=axis_name),
          DCGAN28Discriminator(dropout_rate=block.dropout_rate, conv=conv))


@register("mlp", block="mlp")
def _mlp(block: ml_collections.ConfigDict, sample_shape: tuple[int, ...], *, convs: Convs,
         axis_name: str | None) -> ModelPair:
  del convs  # No convolutions.
  return (MLPGenerator(output_shape=tuple(sample_shape), hidden=tuple(block.g_hidden),
                       output_activation=block.output_activation,
                       vbn_reference_size=block.vbn_reference_size),
          MLPDiscriminator(hidden=tuple(block.d_hidden), dropout_rate=block.dropout_rate,
                           batch_norm=block.d_batch_norm,
                           minibatch_kernels=block.minibatch_kernels,
                           minibatch_kernel_dim=block.minibatch_kernel_dim,
                           axis_name=axis_name))


def _square_image(name: str, sample_shape: tuple[int, ...], sizes: tuple[int, ...]) -> int:
  """The side of [S, S, C] samples if S is one of `sizes`; ValueError otherwise."""
  if (len(sample_shape) != 3 or sample_shape[0] != sample_shape[1]
      or sample_shape[0] not in sizes):
    raise ValueError(f"{name} needs square images [S, S, C] with S in {sizes}, got samples "
                     f"of shape {sample_shape}")
  return sample_shape[0]


def _dcgan(size: int):
  """The factory of DCGAN-<size> (block `dcgan`: nf, d_norm)."""
  def build(block: ml_collections.ConfigDict, sample_shape: tuple[int, ...], *, convs: Convs,
            axis_name: str | None) -> ModelPair:
    _square_image(f"dcgan{size}", sample_shape, (size,))
    conv, conv_transpose = convs
    return (DCGANGenerator(image_size=size, channels=sample_shape[-1], nf=block.nf,
                           conv_transpose=conv_transpose, axis_name=axis_name),
            DCGANDiscriminator(image_size=size, nf=block.nf, d_norm=check_d_norm(block.d_norm),
                               conv=conv, axis_name=axis_name))
  return build


register("dcgan32", block="dcgan")(_dcgan(32))
register("dcgan64", block="dcgan")(_dcgan(64))


@register("resnet", block="resnet")
def _resnet(block: ml_collections.ConfigDict, sample_shape: tuple[int, ...], *, convs: Convs,
            axis_name: str | None) -> ModelPair:
  del axis_name  # No batch norm.
  size = _square_image("resnet", sample_shape, (32, 64, 128, 256))
  widths = dict(image_size=size, nf=block.nf, nf_max=block.nf_max,
                res_ratio=block.res_ratio, conv=convs[0])
  return (ResNetGenerator(channels=sample_shape[-1], **widths), ResNetDiscriminator(**widths))


def check_model_config(config: ml_collections.ConfigDict | dict[str, Any]) -> ModelFamily:
  """The family `config.name` names, after checking that `config` (the `model`
  block) sets no field that family does not take.

  Raises:
    ValueError: an unknown model name, listing the valid ones.
    ConfigError: a field of another family's block (or one the schema does not
      have) differs from its default, or the family's block is missing; the
      message names the fields the model takes.
  """
  from gan_jax.configs import base  # pylint: disable=g-import-not-at-top
  name = config["name"]
  family = MODELS.get(name)
  if family.block not in config:
    raise ConfigError(f"model {name!r} reads config.model.{family.block}, which the config "
                      "has no block for")
  given = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
  changes = config_checks.changed_fields(base.get_config().model.to_dict(), given)
  ignored = [k for k in changes if k.split(".")[0] not in (*SHARED_FIELDS, family.block)]
  if ignored:
    takes = [*SHARED_FIELDS[1:], *(f"{family.block}.{k}" for k in given[family.block])]
    raise ConfigError(f"model {name!r} does not take config.model.{ignored[0]} (set to "
                      f"{changes[ignored[0]][1]!r}); it takes config.model."
                      f"{{{', '.join(takes)}}}")
  return family


def model_config(name: str, **fields: Any) -> ml_collections.ConfigDict:
  """The base `model` block with `name` and `fields` set, each field either a
  shared one (latent_dim, conv_impl) or one of the model's own block, e.g.
  `model_config("mlp", latent_dim=16, g_hidden=(64,))`.

  Raises:
    ValueError / ConfigError: an unknown name, or a field the model does not take.
  """
  from gan_jax.configs import base  # pylint: disable=g-import-not-at-top
  config = base.get_config().model
  family = MODELS.get(name)
  config.name = name
  block = config[family.block]
  for key, value in fields.items():
    if key in SHARED_FIELDS[1:]:
      config[key] = value
    elif key in block:
      block[key] = value
    else:
      raise ConfigError(f"model {name!r} takes no field {key!r}; it takes "
                        f"{', '.join([*SHARED_FIELDS[1:], *block])}")
  check_model_config(config)
  return config


def build_models(config: ml_collections.ConfigDict, sample_shape: Sequence[int], *,
                 axis_name: str | None = None,
                 conditioning: tuple[str, int] = ("none", 0)) -> ModelPair:
  """Builds the (generator, discriminator) pair named by `config.name`.

  Args:
    config: the `model` block of the experiment config.
    sample_shape: shape of one data sample, e.g. (28, 28, 1) or (2,).
    axis_name: device axis for batch-norm statistics under data parallelism.
    conditioning: (method, num_classes) of `config.conditioning`: the pair is
      wrapped class-conditional (`gan_jax.conditioning`) unless the method is
      "none"; spectral normalization then covers D's projection / class head.

  Raises:
    ValueError: for an unknown model name (listing valid names) or conv_impl,
      or a data shape the model cannot produce.
    ConfigError: a field the model does not take (see `check_model_config`).
  """
  family = check_model_config(config)
  g, d = family.build(config[family.block], tuple(sample_shape), axis_name=axis_name,
                      convs=conv_lib.conv_modules(config.conv_impl))  # a bad name fails here
  method, num_classes = conditioning
  g, d = conditioning_lib.wrap_models(g, d, method=method, num_classes=num_classes)
  return g, (SpectralNormalized(d) if config.d_spectral_norm else d)
