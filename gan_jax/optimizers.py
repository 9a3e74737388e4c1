"""Per-network optax optimizers built from a config block.

`make_optimizer(opt_config)` chains, in order: gradient-norm clipping (if
`grad_clip_norm > 0`), the optimizer named by `name` (adam, rmsprop, sgd) with
`learning_rate`, and decoupled weight decay (if `weight_decay > 0`). Extra
post-update transforms (weight clipping for WGAN critics) are appended by the
caller with `optax.chain`.
"""

from __future__ import annotations

from typing import Callable

import ml_collections
import optax

from gan_jax.registry import Registry

OPTIMIZERS: Registry[Callable[[ml_collections.ConfigDict], optax.GradientTransformation]] = (
    Registry("optimizer"))


@OPTIMIZERS.register("adam")
def _adam(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.scale_by_adam(b1=c.b1, b2=c.b2, eps=c.eps)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  # decay is PyTorch's alpha (0.99 in the WGAN code), Keras' rho (0.9).
  return optax.scale_by_rms(decay=c.decay, eps=c.eps, eps_in_sqrt=False)


@OPTIMIZERS.register("sgd")
def _sgd(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.trace(decay=c.momentum) if c.momentum else optax.identity()


def learning_rate_schedule(c: ml_collections.ConfigDict) -> optax.Schedule | float:
  """Constant rate, or the seed-004 warm-up: lr/100, then lr/10, then lr.

  With `warmup_steps = n > 0` the rate is lr/100 for updates [0, n), lr/10 for
  [n, 2n) and lr from 2n on.
  """
  if c.warmup_steps < 0:
    raise ValueError(f"warmup_steps must be >= 0, got {c.warmup_steps}")
  if not c.warmup_steps:
    return c.learning_rate
  n = c.warmup_steps
  return optax.piecewise_constant_schedule(
      c.learning_rate / 100, {n: 10.0, 2 * n: 10.0})


def make_optimizer(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Builds one network's optimizer from its config block.

  Raises:
    ValueError: unknown optimizer name (listing valid names) or impossible values.
  """
  if c.learning_rate <= 0:
    raise ValueError(f"learning_rate must be positive, got {c.learning_rate}")
  parts = []
  if c.grad_clip_norm > 0:
    parts.append(optax.clip_by_global_norm(c.grad_clip_norm))
  parts.append(OPTIMIZERS.get(c.name)(c))
  if c.weight_decay > 0:
    # Decoupled (AdamW-style) decay, scaled by the learning rate below.
    parts.append(optax.add_decayed_weights(c.weight_decay))
  parts.append(optax.scale_by_learning_rate(learning_rate_schedule(c)))
  return optax.chain(*parts)
