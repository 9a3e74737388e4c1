"""Per-network optax optimizers built from a config block.

`make_optimizer(opt_config, weight_clip=c)` chains, in order:
  1. `optax.clip_by_global_norm(grad_clip_norm)` on the raw gradients (if > 0);
  2. `optax.add_decayed_weights(weight_decay)`: coupled L2 decay added to the
     gradient, like PyTorch's `Adam(weight_decay=...)` used by the seed-004
     report (if > 0);
  3. the optimizer named by `name` (adam, rmsprop, sgd);
  4. the learning rate, constant or the seed-004 warm-up schedule;
  5. `transforms.clip_weights_after_update(weight_clip)` (if > 0): WGAN's
     weight clipping, so the params land in [-c, c] after every update.
"""

from __future__ import annotations

from typing import Callable

import ml_collections
import optax

from gan_jax import config_checks
from gan_jax import transforms
from gan_jax.registry import Registry

OPTIMIZERS: Registry[Callable[[ml_collections.ConfigDict], optax.GradientTransformation]] = (
    Registry("optimizer"))


@OPTIMIZERS.register("adam")
def _adam(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.scale_by_adam(b1=c.b1, b2=c.b2, eps=c.eps)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  # decay is PyTorch's alpha (0.99 in the WGAN code), Keras' rho (0.9);
  # eps outside the square root as in PyTorch.
  return optax.scale_by_rms(decay=c.decay, eps=c.eps, eps_in_sqrt=False)


@OPTIMIZERS.register("sgd")
def _sgd(c: ml_collections.ConfigDict) -> optax.GradientTransformation:
  return optax.trace(decay=c.momentum) if c.momentum else optax.identity()


def learning_rate_schedule(c: ml_collections.ConfigDict) -> optax.Schedule | float:
  """Constant rate, or the seed-004 warm-up: lr/100, then lr/10, then lr.

  With `warmup_steps = n > 0` the rate is lr/100 for updates [0, n), lr/10 for
  [n, 2n) and lr from 2n on (counted in this network's updates).
  """
  config_checks.check_block(c, {"warmup_steps": config_checks.OPTIMIZER_RULES["warmup_steps"]},
                            where="optimizer")
  if not c.warmup_steps:
    return c.learning_rate
  n = c.warmup_steps
  return optax.piecewise_constant_schedule(c.learning_rate / 100, {n: 10.0, 2 * n: 10.0})


def make_optimizer(c: ml_collections.ConfigDict, *,
                   weight_clip: float = 0.0) -> optax.GradientTransformation:
  """Builds one network's optimizer from its config block.

  Args:
    c: an optimizer block (see `gan_jax/configs/base.py:optimizer_config`).
    weight_clip: c > 0 clips every weight to [-c, c] after each update.

  Raises:
    ValueError: unknown optimizer name (listing valid names) or impossible values.
  """
  config_checks.check_block(c, config_checks.OPTIMIZER_RULES, where="optimizer")
  config_checks.check_value("weight_clip", weight_clip)
  parts = []
  if c.grad_clip_norm > 0:
    parts.append(optax.clip_by_global_norm(c.grad_clip_norm))
  if c.weight_decay > 0:
    parts.append(optax.add_decayed_weights(c.weight_decay))
  parts.append(OPTIMIZERS.get(c.name)(c))
  parts.append(optax.scale_by_learning_rate(learning_rate_schedule(c)))
  if weight_clip > 0:
    parts.append(transforms.clip_weights_after_update(weight_clip))
  return optax.chain(*parts)
