"""CycleGAN's losses as pure per-example functions (Zhu et al. 2017, Sec. 3-4).

With x an image of domain A (X), y one of domain B (Y), G: A -> B, F: B -> A,
and a patch discriminator's logits D(.) of shape [B, h, w] (mean_p is the mean
over the h*w patches, mean_i over the H*W*C pixel values):

  lsgan_d_loss    1/2 (mean_p (D(y) - 1)^2 + mean_p D(G(x))^2)
  lsgan_g_loss    mean_p (D(G(x)) - 1)^2
  cycle_loss      mean_i |F(G(x)) - x| + mean_i |G(F(y)) - y|
  identity_loss   mean_i |G(y) - y| + mean_i |F(x) - x|

The least-squares losses are the paper's (Sec. 4, after Mao et al. 2017:
targets 1 for real and 0 for fake, D's objective halved as in its code); the
L1 terms are means over pixels, as PyTorch's `L1Loss` of the reference code.
Each returns one value per example [B] and takes no weight: the step applies
lambda (`loss.cycle_weight`, 10 in the paper) to the cycle loss and
`loss.identity_scale` * lambda (0.5 lambda) to the identity loss.
The batch index pairs an A image with a B image only for the two sums; the
pairing carries no meaning (the data are unpaired).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import losses as gan_losses

Array = jax.Array
_LEAST_SQUARES = gan_losses.get_objective("least_squares")


def _check_same_shape(**arrays: Array) -> None:
  shapes = {name: tuple(a.shape) for name, a in arrays.items()}
  if len(set(shapes.values())) != 1:
    raise ValueError(f"expected arrays of one shape, got {shapes}")
  first = next(iter(shapes.values()))
  if len(first) < 1 or first[0] == 0:
    raise ValueError(f"expected a non-empty batch axis first, got shapes {shapes}")


def _per_example_mean(x: Array) -> Array:
  """[B, ...] -> [B], the mean over every axis but the first."""
  return x.reshape((x.shape[0], -1)).mean(axis=1)


def _two_domain_l1(*, real_a: Array, out_a: Array, real_b: Array, out_b: Array,
                   names: tuple[str, str]) -> Array:
  """mean_i |out_a - real_a| + mean_i |out_b - real_b|, [B]; the shapes checked
  (each output as its input, one batch size), the outputs called `names`."""
  _check_same_shape(real_a=real_a, **{names[0]: out_a})
  _check_same_shape(real_b=real_b, **{names[1]: out_b})
  if real_a.shape[0] != real_b.shape[0]:
    raise ValueError(f"batch sizes differ: A {real_a.shape[0]}, B {real_b.shape[0]}")
  return (_per_example_mean(jnp.abs(out_a - real_a))
          + _per_example_mean(jnp.abs(out_b - real_b)))


def lsgan_d_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """Least-squares D loss 1/2 (mean_p (D(real) - 1)^2 + mean_p D(fake)^2): the
  `least_squares` objective's D loss (gan_jax/losses.py) averaged over patches.

  Args:
    real_logits: D's outputs on real images [B, ...] (patches after B).
    fake_logits: D's outputs on generated images, the same shape.

  Returns:
    [B] per-example losses.

  Raises:
    ValueError: the shapes differ or the batch is empty.
  """
  return gan_losses.per_example(_LEAST_SQUARES.d_loss, real_logits=real_logits,
                                fake_logits=fake_logits)


def lsgan_g_loss(*, fake_logits: Array) -> Array:
  """Least-squares generator loss mean_p (D(fake) - 1)^2: twice the
  `least_squares` objective's G loss (f - 1)^2 / 2 averaged over patches (the
  reference code's MSELoss has no 1/2 on G's side).

  Args:
    fake_logits: D's outputs on generated images [B, ...].

  Returns:
    [B] per-example losses.

  Raises:
    ValueError: the batch is empty.
  """
  return 2.0 * gan_losses.per_example(_LEAST_SQUARES.g_loss, fake_logits=fake_logits)


def cycle_loss(*, real_a: Array, cycled_a: Array, real_b: Array, cycled_b: Array) -> Array:
  """Cycle-consistency loss mean_i |F(G(x)) - x| + mean_i |G(F(y)) - y|.

  Args:
    real_a: images x of domain A [B, H, W, C].
    cycled_a: F(G(x)), the same shape.
    real_b: images y of domain B [B, H', W', C'] (the same batch size).
    cycled_b: G(F(y)), the shape of real_b.

  Returns:
    [B] per-example losses (0 when both cycles give their input back).

  Raises:
    ValueError: a reconstruction's shape differs from its input's, or the
      batch sizes differ.
  """
  return _two_domain_l1(real_a=real_a, out_a=cycled_a, real_b=real_b, out_b=cycled_b,
                        names=("cycled_a", "cycled_b"))


def identity_loss(*, real_a: Array, same_a: Array, real_b: Array, same_b: Array) -> Array:
  """Identity loss mean_i |G(y) - y| + mean_i |F(x) - x|: each generator
  should leave an image of its target domain unchanged.

  Args:
    real_a: images x of domain A [B, H, W, C].
    same_a: F(x), F applied to its own target domain, the same shape.
    real_b: images y of domain B [B, H', W', C'] (the same batch size).
    same_b: G(y), the shape of real_b.

  Returns:
    [B] per-example losses.

  Raises:
    ValueError: as `cycle_loss`.
  """
  return _two_domain_l1(real_a=real_a, out_a=same_a, real_b=real_b, out_b=same_b,
                        names=("same_a", "same_b"))
