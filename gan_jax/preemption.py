"""SIGTERM / SIGINT as a request to stop at the next step boundary.

Preemption schedulers send SIGTERM and allow a grace period; Ctrl-C sends
SIGINT. Inside `StopSignals`, the first of either is only recorded; the
training loop checks `requested` after each step, saves a checkpoint of that
step and raises `StopRequested`, so no finished step is lost. A second SIGINT
stops at once (KeyboardInterrupt), for a run that must die now.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from absl import logging

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
  """Context manager: records SIGTERM / SIGINT instead of dying on them.

  Only the main thread can install handlers; elsewhere (e.g. a test runner's
  worker thread) it does nothing and `requested` stays None.
  """

  def __init__(self):
    self.requested: int | None = None
    self._previous: dict[int, Any] = {}

  def _handle(self, signum: int, frame) -> None:  # pylint: disable=unused-argument
    if self.requested is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt
    if self.requested is None:
      logging.warning("%s received: stopping after this step with a checkpoint (a second "
                      "Ctrl-C stops at once, losing the steps since the last checkpoint)",
                      signal.Signals(signum).name)
    self.requested = signum

  def __enter__(self) -> "StopSignals":
    if threading.current_thread() is threading.main_thread():
      for signum in SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}
