"""Class-conditional GANs: G(z, y) and D(x, y) for labelled data.

`config.conditioning.method` picks an entry of CONDITIONINGS ("none": the
unconditional GAN, the default):

  projection  (Miyato & Koyama 2018) D(x, y) = psi(phi(x)) + <embed(y), phi(x)>:
              phi(x) [B, F] the features D's last linear layer psi reads,
              embed a learned [num_classes, F] table.
  acgan       (Odena et al. 2017) D(x) keeps its real/fake logit and gains a
              class head c(x) = W phi(x) + b [B, num_classes]; D adds the
              cross-entropy of the true class on real and fake samples,
              G that on its fakes, each times `class_loss_weight`.

The generator of every model family is conditioned the same way: the one-hot
label is appended to z (Mirza & Osindero 2014; AC-GAN's generator), so
G(z, y) = G_base([z, onehot(y)]) with a first layer one input wider.

Labels of the fakes: in each update G is asked for the classes of the real
batch D sees in that update, so real and fake class frequencies are the
data's, every pair (x_real_i, x_fake_i) shares a label, and a gradient
penalty at interpolates between them has one label per example.

A new method is one `Conditioning` and one `register` line: its D head
(`projection`, `classifier`) and its class losses, functions of class logits
[B, C] and labels [B] returning per-example [B].
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.registry import Registry


def class_cross_entropy(*, class_logits: jax.Array, labels: jax.Array) -> jax.Array:
  """-log softmax(class_logits)[label]: class_logits [B, C], labels int [B] -> [B]."""
  if class_logits.ndim != 2 or labels.shape != class_logits.shape[:1]:
    raise ValueError(f"class_logits must be [B, C] and labels [B], got {class_logits.shape} "
                     f"and {labels.shape}")
  return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels)


@dataclasses.dataclass(frozen=True)
class Conditioning:
  """A conditioning method.

  Attributes:
    projection: D adds <embed(y), phi(x)> to its logit.
    classifier: D has a class head; the step then adds the class losses.
    d_class_loss: `(*, real_class_logits, fake_class_logits, labels) -> [B]`,
      D's added loss (None without a class head).
    g_class_loss: `(*, fake_class_logits, labels) -> [B]`, G's added loss.
  """
  projection: bool
  classifier: bool
  d_class_loss: Callable[..., jax.Array] | None = None
  g_class_loss: Callable[..., jax.Array] | None = None


CONDITIONINGS: Registry[Conditioning] = Registry("conditioning method")
CONDITIONINGS.register("none", Conditioning(projection=False, classifier=False))
CONDITIONINGS.register("projection", Conditioning(projection=True, classifier=False))


def acgan_d_class_loss(*, real_class_logits: jax.Array, fake_class_logits: jax.Array,
                       labels: jax.Array) -> jax.Array:
  """AC-GAN's L_C for D: CE(c(x_real), y) + CE(c(G(z, y)), y), [B]."""
  return (class_cross_entropy(class_logits=real_class_logits, labels=labels)
          + class_cross_entropy(class_logits=fake_class_logits, labels=labels))


def acgan_g_class_loss(*, fake_class_logits: jax.Array, labels: jax.Array) -> jax.Array:
  """AC-GAN's L_C for G: CE(c(G(z, y)), y), [B]."""
  return class_cross_entropy(class_logits=fake_class_logits, labels=labels)


CONDITIONINGS.register("acgan", Conditioning(projection=False, classifier=True,
                                              d_class_loss=acgan_d_class_loss,
                                              g_class_loss=acgan_g_class_loss))


def num_classes(block) -> int:
  """The classes a run's G and D take: `block.num_classes` of the
  `config.conditioning` block, or 0 for an unconditional run ("none")."""
  return 0 if block.method == "none" else block.num_classes


def module_inputs(x: jax.Array, labels: jax.Array | None) -> tuple[jax.Array, ...]:
  """The positional inputs of a G or D: (x,), or (x, labels) when conditional."""
  return (x,) if labels is None else (x, labels)


def get_conditioning(name: str) -> Conditioning:
  """The registered method `name`; ValueError listing the valid ones otherwise."""
  return CONDITIONINGS.get(name)


# --- the models ------------------------------------------------------------------------------

class ConditionalGenerator(nn.Module):
  """(z [B, latent_dim], labels int [B]) -> samples: `inner` (any generator)
  applied to [z, onehot(labels)] [B, latent_dim + num_classes]."""
  inner: nn.Module
  num_classes: int

  def __call__(self, z: jax.Array, labels: jax.Array, *, train: bool) -> jax.Array:
    onehot = jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)
    return self.inner(jnp.concatenate([z, onehot], axis=-1), train=train)


class ConditionalDiscriminator(nn.Module):
  """(x [B, ...], labels int [B]) -> (logits [B], class logits [B, C] or None),
  and phi(x) [B, F] third with `with_features=True`.

  `inner` is any discriminator of `gan_jax.models` (it returns its features
  phi(x) with `with_features=True`); `projection` adds <embed(y), phi(x)> to
  its logit, `classifier` adds the class head Dense(num_classes)(phi(x)).
  """
  inner: nn.Module
  num_classes: int
  projection: bool
  classifier: bool

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array, *, train: bool,
               with_features: bool = False):
    logits, phi = self.inner(x, train=train, with_features=True)
    phi = phi.reshape((phi.shape[0], -1))
    if self.projection:
      embed = nn.Embed(self.num_classes, phi.shape[-1], name="embed",
                       embedding_init=nn.initializers.normal(0.02))(labels)
      logits = logits + jnp.sum(embed * phi, axis=-1)
    class_logits = (nn.Dense(self.num_classes, name="class_head")(phi)
                    if self.classifier else None)
    return (logits, class_logits, phi) if with_features else (logits, class_logits)


def wrap_models(generator: nn.Module, discriminator: nn.Module, *, method: str,
                num_classes: int) -> tuple[nn.Module, nn.Module]:
  """The class-conditional pair of a model pair (unchanged for "none")."""
  cond = get_conditioning(method)
  if method == "none":
    return generator, discriminator
  return (ConditionalGenerator(generator, num_classes),
          ConditionalDiscriminator(discriminator, num_classes, projection=cond.projection,
                                   classifier=cond.classifier))


def is_conditional(module: nn.Module) -> bool:
  """Whether a generator or discriminator takes labels."""
  inner = getattr(module, "inner", None)
  return (isinstance(module, (ConditionalGenerator, ConditionalDiscriminator))
          or (inner is not None and is_conditional(inner)))


def grid_labels(num: int, num_classes: int) -> np.ndarray:
  """int32 [num]: the classes of a sample grid, in contiguous equal blocks
  (100 samples of 10 classes: one class per row of the 10 x 10 grid)."""
  return (np.arange(num) * num_classes // num).astype(np.int32)


def balanced_labels(num: int, num_classes: int) -> np.ndarray:
  """int32 [num]: 0, 1, ..., C-1, 0, 1, ... (every class num / C times)."""
  return (np.arange(num) % num_classes).astype(np.int32)
