"""How a step metric combines over critic steps, devices, seeds and log windows.

Every metric is a mean, except a peak (a key whose last part starts with
`max_`, e.g. `d/max_abs_logit`), which takes the maximum: the largest value
seen anywhere in the window, so one exploding batch is not averaged away.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PEAK_PREFIX = "max_"


def is_peak(key: str) -> bool:
  """Whether metric `key` combines by max ("d/max_abs_logit") rather than mean."""
  return key.rsplit("/", 1)[-1].startswith(PEAK_PREFIX)


def combine(key: str, values: Sequence[float] | np.ndarray) -> float:
  """The mean of `values` (host floats), or their max when `key` is a peak."""
  values = np.asarray(values, np.float64)
  return float(values.max() if is_peak(key) else values.mean())
