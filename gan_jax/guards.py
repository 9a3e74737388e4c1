"""The checks that stop a diverged run before it writes a bad checkpoint.

`check_metrics` looks at the logged scalars (computed from the parameters
before each update); `check_state` at the state about to be checkpointed
(after the update), so a NaN or exploding weight is never saved, and the
newest checkpoint is always one that passed both checks.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from gan_jax.errors import NonFiniteLossError, StateOutOfBoundsError

# Leaves of the GANState bounded in magnitude: weights and their statistics.
# Optimizer moments (e.g. Adam's squared gradients) are only checked for finiteness.
BOUNDED_FIELDS = ("g_params", "d_params", "g_batch_stats", "d_batch_stats", "ema_params")


def check_metrics(window: list[dict[str, float]], *, first_step: int, last_good: str) -> None:
  """Raises NonFiniteLossError naming the first step with a NaN/inf metric.

  Args:
    window: host metric dicts of consecutive steps, the first being `first_step`.
    last_good: the path of the newest checkpoint (or "none yet").
  """
  for offset, metrics in enumerate(window):
    bad = sorted(k for k, v in metrics.items() if not np.isfinite(v))
    if bad:
      raise NonFiniteLossError(
          f"Non-finite {', '.join(bad)} at step {first_step + offset} (values "
          f"{[metrics[k] for k in bad]}). Stopped; last good checkpoint: {last_good}")


def _worst(tree: Any, measure: Callable[[np.ndarray], float]) -> tuple[str, float]:
  worst = ("", 0.0)
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    array = np.asarray(leaf)
    if array.size and np.issubdtype(array.dtype, np.floating):
      value = measure(array)
      if not value <= worst[1]:  # NaN wins
        worst = (jax.tree_util.keystr(path), value)
  return worst


def check_state(state: Any, *, step: int, max_magnitude: float, last_good: str,
                bounded_fields: tuple[str, ...] = BOUNDED_FIELDS) -> None:
  """Raises StateOutOfBoundsError if `state` (host arrays) holds a NaN or inf
  anywhere, or a weight / statistic above `max_magnitude` (0: no bound).

  Args:
    state: the trainer's state after `step`'s update (a GANState by default).
    step: the step, for the message.
    max_magnitude: the bound on |value| over `bounded_fields`.
    last_good: the path of the newest checkpoint (or "none yet").
    bounded_fields: the state's fields whose values are bounded.
  """
  name, _ = _worst(state, lambda a: 0.0 if np.isfinite(a).all() else np.inf)
  if name:
    raise StateOutOfBoundsError(
        f"The state at step {step} (after its update) holds a non-finite value (first in "
        f"{name}); not checkpointed. Stopped; last good checkpoint: {last_good}")
  if max_magnitude > 0:
    for field in bounded_fields:
      name, value = _worst(getattr(state, field), lambda a: float(np.abs(a).max()))
      if value > max_magnitude:
        raise StateOutOfBoundsError(
            f"The state at step {step} (after its update) holds |{field}{name}| = {value:.3g} > "
            f"train.max_param_magnitude = {max_magnitude:g} (diverging); not checkpointed. "
            f"Stopped; last good checkpoint: {last_good}")
