"""The project's error classes: messages that say what went wrong and what to do.

launch.py and the command-line tools print a `GanJaxError` as one line (the
traceback only with --traceback). Each class also derives from the built-in
exception it refines, so `except ValueError` and the like keep working.
"""

from __future__ import annotations


class GanJaxError(Exception):
  """An error of the user's input or of the run folder, not a bug."""


class ConfigError(GanJaxError, ValueError):
  """A config value is out of range, or a resumed run's config changed."""


class CorruptCheckpointError(GanJaxError, RuntimeError):
  """A checkpoint exists but cannot be restored, or fails its digest."""


class NonFiniteLossError(GanJaxError, FloatingPointError):
  """Training produced a NaN or infinite metric (or state: see below)."""


class StateOutOfBoundsError(NonFiniteLossError):
  """The state to be checkpointed holds a non-finite or too large value."""


class WorkdirLockedError(GanJaxError, RuntimeError):
  """Another live process trains into the same workdir."""


class StopRequested(GanJaxError):
  """SIGTERM or SIGINT arrived; the run saved a checkpoint and stopped.

  Attributes:
    signum: the signal's number (exit status 128 + signum by convention).
  """

  def __init__(self, message: str, *, signum: int):
    super().__init__(message)
    self.signum = signum


class WeightsNotFoundError(GanJaxError, FileNotFoundError):
  """Pretrained weights are not on this machine and cannot be downloaded."""


class WeightsIntegrityError(GanJaxError, ValueError):
  """A weights file's checksum or contents do not match the published release."""


class TorchFileError(GanJaxError, ValueError):
  """A file is not a readable PyTorch state dict (or holds more than tensors)."""
