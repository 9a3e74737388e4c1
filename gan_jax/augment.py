"""DiffAugment (Zhao et al. 2020): random, differentiable transforms of D's image inputs.

"Differentiable Augmentation for Data-Efficient GAN Training" applies one
family of random transforms T to every image D sees, real and generated, in
both players' updates, so D compares T(x) with T(G(z)) and G's gradient flows
through T. Each example gets its own draw. The policies, as in the authors'
`DiffAugment_pytorch.py`, with a `strength` s that scales each one (s = 1 is
theirs, s = 0 the identity):

  translation  shift each image by integer offsets in [-m_H, m_H] x [-m_W, m_W],
               m = round_half_up(0.125 * s * size), with zeros where the image
               moved away from (rand_translation).
  cutout       zero a c_H x c_W rectangle, c = round_half_up(0.5 * s * size), at
               a random centre per image; the part outside the image is lost
               (rand_cutout).
  color        brightness x + s (u - 1/2), then saturation (factor 1 + s (2u - 1)
               about the channel mean), then contrast (factor 1 + s (u - 1/2)
               about the image mean), each u ~ U(0, 1) (rand_brightness,
               rand_saturation, rand_contrast). On one channel the
               saturation step is the identity.

Images are [B, H, W, C] (the authors' code is NCHW). Translation is linear in
x and cutout is a mask, so their gradients are the same transform applied to
the output gradient. The random draws come from a `normal(key, shape)` N(0, 1)
sampler pushed through the normal CDF, so the trick draws its numbers the way
instance noise does (the global batch's slice under data parallelism).
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from gan_jax import config_checks
from gan_jax.errors import ConfigError

Array = jax.Array

TRANSLATION_RATIO = 0.125  # DiffAugment's rand_translation ratio at strength 1
CUTOUT_RATIO = 0.5         # DiffAugment's rand_cutout ratio at strength 1


def _round_half_up(value: float) -> int:
  """int(value + 0.5), DiffAugment's rounding of a non-negative size."""
  return int(value + 0.5)


def max_shift(size: int, *, strength: float) -> int:
  """The largest translation, in pixels, along an image axis of `size` pixels."""
  return _round_half_up(TRANSLATION_RATIO * strength * size)


def cutout_size(size: int, *, strength: float) -> int:
  """The cutout rectangle's side, in pixels, along an image axis of `size` pixels."""
  return _round_half_up(CUTOUT_RATIO * strength * size)


def check_images(x: Array) -> None:
  """Raises ConfigError unless x is a batch of images [B, H, W, C]."""
  if x.ndim != 4:
    raise ConfigError(f"config.tricks.diffaugment transforms images [B, H, W, C], but D's "
                      f"input has shape {tuple(x.shape)}; set config.tricks.diffaugment='' "
                      "for data that are not images")


def parse_policies(policies: str) -> tuple[str, ...]:
  """The policy names of a comma-separated list ('' = none), e.g. 'translation,cutout'.

  Raises:
    ConfigError: an entry is not one of `POLICIES`.
  """
  config_checks.check_value("tricks.diffaugment", policies)
  return tuple(p.strip() for p in policies.split(",")) if policies else ()


def randint(u: Array, *, low: int, high: int) -> Array:
  """Integers uniform in {low, ..., high} of u ~ U[0, 1] (any shape), int32."""
  n = high - low + 1
  return low + jnp.minimum(jnp.floor(u * n).astype(jnp.int32), n - 1)


# --- the transforms at given parameters ------------------------------------------------------

def translate(x: Array, *, shift: Array) -> Array:
  """Images moved by whole pixels, zero where no pixel moved in.

  Args:
    x: images [B, H, W, C].
    shift: [B, 2] integers (rows, columns): out[b, i, j] = x[b, i - shift[b, 0],
      j - shift[b, 1]], and 0 where that index is outside the image.

  Returns:
    [B, H, W, C].
  """
  _, h, w, _ = x.shape
  rows = jnp.arange(h)[None, :] - shift[:, :1]  # [B, H]
  cols = jnp.arange(w)[None, :] - shift[:, 1:]  # [B, W]
  out = jnp.take_along_axis(x, jnp.clip(rows, 0, h - 1)[:, :, None, None], axis=1)
  out = jnp.take_along_axis(out, jnp.clip(cols, 0, w - 1)[:, None, :, None], axis=2)
  inside = (((rows >= 0) & (rows < h))[:, :, None, None]
            & ((cols >= 0) & (cols < w))[:, None, :, None])
  return jnp.where(inside, out, jnp.zeros((), x.dtype))


def cutout_mask(shape: tuple[int, ...], *, centre: Array, size: tuple[int, int]) -> Array:
  """True on each image's cut rectangle: rows centre[b, 0] - size[0] // 2 up to
  size[0] rows on (columns likewise), clipped to the image.

  Args:
    shape: the images' shape (B, H, W, C).
    centre: [B, 2] integers (row, column).
    size: (rows, columns) of the rectangle; 0 cuts nothing.

  Returns:
    [B, H, W, 1] booleans.
  """
  _, h, w, _ = shape
  top = centre[:, :1] - size[0] // 2  # [B, 1]
  left = centre[:, 1:] - size[1] // 2
  rows = jnp.arange(h)[None, :]
  cols = jnp.arange(w)[None, :]
  in_rows = (rows >= top) & (rows < top + size[0])  # [B, H]
  in_cols = (cols >= left) & (cols < left + size[1])  # [B, W]
  return in_rows[:, :, None, None] & in_cols[:, None, :, None]


def cut_out(x: Array, *, centre: Array, size: tuple[int, int]) -> Array:
  """Images [B, H, W, C] with the rectangle of `cutout_mask` set to 0 (all channels)."""
  return jnp.where(cutout_mask(x.shape, centre=centre, size=size), jnp.zeros((), x.dtype), x)


def adjust_color(x: Array, *, brightness: Array, saturation: Array, contrast: Array) -> Array:
  """DiffAugment's colour transform at given per-image parameters.

  Args:
    x: images [B, H, W, C].
    brightness: [B], added to every pixel.
    saturation: [B], the factor on each pixel's deviation from its channel mean.
    contrast: [B], the factor on each pixel's deviation from the image mean.

  Returns:
    [B, H, W, C]. A factor of 1 (brightness 0) leaves x exactly as it was.
  """
  per_image = lambda v: v[:, None, None, None]
  x = x + per_image(brightness)
  x = x + per_image(saturation - 1) * (x - x.mean(axis=3, keepdims=True))
  return x + per_image(contrast - 1) * (x - x.mean(axis=(1, 2, 3), keepdims=True))


# --- the random policies ---------------------------------------------------------------------

def rand_translation(x: Array, u: Array, *, strength: float) -> Array:
  """x [B, H, W, C] translated by offsets drawn from u [B, 2] ~ U[0, 1]:
  rows in [-m_H, m_H], columns in [-m_W, m_W] (`max_shift`)."""
  _, h, w, _ = x.shape
  m_h, m_w = max_shift(h, strength=strength), max_shift(w, strength=strength)
  shift = jnp.stack([randint(u[:, 0], low=-m_h, high=m_h),
                     randint(u[:, 1], low=-m_w, high=m_w)], axis=1)
  return translate(x, shift=shift)


def rand_cutout(x: Array, u: Array, *, strength: float) -> Array:
  """x [B, H, W, C] with a c_H x c_W rectangle (`cutout_size`) zeroed at a
  centre drawn from u [B, 2] ~ U[0, 1]: rows in {0, ..., H - c_H mod 2}, as
  DiffAugment's offsets (columns likewise)."""
  _, h, w, _ = x.shape
  size = (cutout_size(h, strength=strength), cutout_size(w, strength=strength))
  centre = jnp.stack([randint(u[:, 0], low=0, high=h - size[0] % 2),
                      randint(u[:, 1], low=0, high=w - size[1] % 2)], axis=1)
  return cut_out(x, centre=centre, size=size)


def rand_color(x: Array, u: Array, *, strength: float) -> Array:
  """x [B, H, W, C] through `adjust_color` at parameters drawn from u [B, 3] ~
  U[0, 1]: brightness s (u0 - 1/2), saturation 1 + s (2 u1 - 1), contrast
  1 + s (u2 - 1/2)."""
  return adjust_color(x, brightness=strength * (u[:, 0] - 0.5),
                      saturation=1 + strength * (2 * u[:, 1] - 1),
                      contrast=1 + strength * (u[:, 2] - 0.5))


# name -> (the policy, how many U[0, 1] numbers it draws per image); the names
# are config_checks.DIFFAUGMENT_POLICIES.
POLICIES: dict[str, tuple[Callable[..., Array], int]] = {
    "color": (rand_color, 3),
    "translation": (rand_translation, 2),
    "cutout": (rand_cutout, 2),
}


def diffaugment(x: Array, *, policies: Sequence[str], strength: float, key: Array,
                normal: Callable[[Array, tuple[int, ...]], Array] = jax.random.normal) -> Array:
  """The policies applied in order, each with its own draws per image.

  Args:
    x: images [B, H, W, C].
    policies: names of `POLICIES`, e.g. ("translation", "cutout").
    strength: s >= 0, scaling every policy (1 = DiffAugment's, 0 = identity).
    key: PRNG key; the i-th policy draws from fold_in(key, i).
    normal: `normal(key, shape)` -> N(0, 1) of `shape`; its draws pass through
      the normal CDF to give U[0, 1].

  Returns:
    [B, H, W, C].

  Raises:
    ConfigError: x is not [B, H, W, C].
  """
  check_images(x)
  for i, name in enumerate(policies):
    fn, num_draws = POLICIES[name]
    u = jax.scipy.special.ndtr(normal(jax.random.fold_in(key, i), (x.shape[0], num_draws)))
    x = fn(x, u, strength=strength)
  return x
