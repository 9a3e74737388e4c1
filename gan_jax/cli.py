"""What the command-line programs share: errors as one line, and flag parsing.

A `GanJaxError` (and the ValueError / OSError of bad input or a full disk)
ends a program with one line on stderr, `gan_jax: <Kind>: <message>`, and
exit status 1; StopRequested (SIGTERM / SIGINT, checkpoint saved) with
128 + the signal number, as a shell reports a signal. `--traceback` shows the
full traceback instead. Other exceptions are bugs and keep their traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Callable, Sequence

from absl import flags
from absl import logging

from gan_jax.errors import GanJaxError, StopRequested

USER_ERRORS = (GanJaxError, ValueError, OSError)

_TRACEBACK = flags.DEFINE_bool("traceback", False,
                               "Show the full traceback of a gan_jax error (not one line).")


class QuietLibraries(logging.logging.Filter):
  """Drops orbax's per-save INFO chatter and JAX's backend probing ('Unable to
  initialize backend tpu'); their warnings and errors still show."""

  def filter(self, record):
    return record.levelno >= logging.logging.WARNING or not (
        "/orbax/" in record.pathname or record.pathname.endswith("xla_bridge.py"))


def one_line(error: BaseException) -> str:
  """`<Kind>: <message>` with the message's lines joined."""
  text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
  return f"{type(error).__name__}: {text}"


def _exit(error: BaseException, status: int) -> None:
  """Prints the error as the program's last line and exits at once.

  Orbax / TensorStore threads can still print (e.g. 'Event loop is closed')
  after a failed restore: they get a moment to finish first, and os._exit
  skips the interpreter shutdown where the rest of that noise comes from
  (every file and manager has been closed by the loop's finally blocks).
  """
  if _TRACEBACK.value:
    raise error
  sys.stdout.flush()
  sys.stderr.flush()
  time.sleep(0.3)
  print(f"gan_jax: {one_line(error)}", file=sys.stderr, flush=True)
  os._exit(status)  # pylint: disable=protected-access


def user_errors_as_one_line(main: Callable[[Sequence[str]], None]) -> Callable[..., None]:
  """Wraps an absl `main(argv)` as described in the module docstring."""

  @functools.wraps(main)
  def wrapped(argv):
    try:
      main(argv)
    except StopRequested as e:
      _exit(e, 128 + e.signum)
    except USER_ERRORS as e:
      _exit(e, 1)
  return wrapped


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a config override that names no field (which
  ml_collections reports as an AttributeError / KeyError) as one line."""
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError) as e:
    name = str(e).strip("'\"")
    print(f"gan_jax: ConfigError: an override names no config field ({name!r}); the fields "
          "are those of gan_jax/configs/base.py, e.g. --config.train.num_steps=100", file=sys.stderr)
    sys.exit(2)
