"""2-D toy distributions, sampled in JAX: `sample(name, key=..., num=...) -> [num, 2]`.

  ring   8 Gaussians on a circle of radius 2, std 0.02 (the unrolled-GAN ring).
  grid   25 Gaussians on a 5x5 grid {-4, -2, 0, 2, 4}^2, std 0.05.
  swiss_roll  a 2-D swiss roll scaled to about [-2, 2]^2, small noise.
  line   uniform on the segment [-2, 2] x {0}, small noise.
  circle uniform on the circle of radius 2, small noise.

`mode_centers(name)` and `mode_std(name)` describe the mixtures (ring, grid) for
counting covered modes.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.registry import Registry

TOYS: Registry[Callable[[jax.Array, int], jax.Array]] = Registry("toy distribution")
_MIXTURES = {}  # name -> (centers [M, 2] numpy, std)


def _mixture(name: str, centers: np.ndarray, std: float) -> None:
  _MIXTURES[name] = (centers.astype(np.float32), std)

  def sample_mixture(key: jax.Array, num: int) -> jax.Array:
    k_idx, k_noise = jax.random.split(key)
    idx = jax.random.randint(k_idx, (num,), 0, len(centers))
    return jnp.asarray(centers, jnp.float32)[idx] + std * jax.random.normal(k_noise, (num, 2))

  TOYS.register(name, sample_mixture)


_angles = 2 * np.pi * np.arange(8) / 8
_mixture("ring", 2.0 * np.stack([np.cos(_angles), np.sin(_angles)], axis=1), 0.02)
_grid = np.arange(-4.0, 5.0, 2.0)
_mixture("grid", np.stack(np.meshgrid(_grid, _grid), axis=-1).reshape(-1, 2), 0.05)


@TOYS.register("swiss_roll")
def _swiss_roll(key: jax.Array, num: int) -> jax.Array:
  k_t, k_noise = jax.random.split(key)
  t = 1.5 * jnp.pi * (1 + 2 * jax.random.uniform(k_t, (num,)))
  points = jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], axis=1) / 7.5
  return points + 0.05 * jax.random.normal(k_noise, (num, 2))


@TOYS.register("line")
def _line(key: jax.Array, num: int) -> jax.Array:
  k_x, k_noise = jax.random.split(key)
  x = jax.random.uniform(k_x, (num,), minval=-2.0, maxval=2.0)
  return jnp.stack([x, jnp.zeros_like(x)], axis=1) + 0.02 * jax.random.normal(k_noise, (num, 2))


@TOYS.register("circle")
def _circle(key: jax.Array, num: int) -> jax.Array:
  k_a, k_noise = jax.random.split(key)
  angle = 2 * jnp.pi * jax.random.uniform(k_a, (num,))
  points = 2.0 * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
  return points + 0.02 * jax.random.normal(k_noise, (num, 2))


def sample(name: str, *, key: jax.Array, num: int) -> jax.Array:
  """Draws `num` points [num, 2] float32 from the named distribution."""
  return TOYS.get(name)(key, num)


def mode_centers(name: str) -> np.ndarray:
  """Centres [M, 2] of a Gaussian-mixture toy; ValueError for non-mixtures."""
  if name not in _MIXTURES:
    raise ValueError(f"{name!r} is not a mixture; valid choices: {', '.join(sorted(_MIXTURES))}")
  return _MIXTURES[name][0]


def mode_std(name: str) -> float:
  mode_centers(name)
  return _MIXTURES[name][1]


def covered_modes(samples: np.ndarray, *, name: str, min_count: int = 20,
                  num_std: float = 3.0) -> np.ndarray:
  """Which modes have at least `min_count` samples within `num_std` std of them.

  Args:
    samples: generated points [N, 2].
    name: a mixture name ('ring' or 'grid').
    min_count: how many samples make a mode covered.
    num_std: radius of a mode in units of its std.

  Returns:
    bool [M], True for every covered mode.
  """
  centers = mode_centers(name)
  dist = np.linalg.norm(np.asarray(samples)[:, None, :] - centers[None], axis=-1)
  counts = (dist <= num_std * mode_std(name)).sum(axis=0)
  return counts >= min_count
