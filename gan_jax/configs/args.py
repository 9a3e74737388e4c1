"""The one grammar of an experiment's argument: `--config=FILE.py:<a>[,<b>...][,runlocal]`.

Positional values come in a fixed order, each from its own choices, each
optional from the right (its default); `runlocal` anywhere shrinks the run to
a few seconds of work (`base.runlocal`). Every experiment file parses its
argument with `parse`, so every file takes `runlocal` and every bad argument
gets the same one-line error listing the valid values.
"""

from __future__ import annotations

from typing import Sequence

from gan_jax.errors import ConfigError

RUNLOCAL = "runlocal"


def parse(arg: str | None, *, fields: Sequence[tuple[str, Sequence[str], str]],
          where: str) -> tuple[dict[str, str], bool]:
  """Splits an experiment argument into its positional values and `runlocal`.

  Args:
    arg: the text after the config file's ':' (None or "" for the defaults).
    fields: (name, choices, default) per position, in order.
    where: the config file, for the error message.

  Returns:
    ({name: value} for every field, whether `runlocal` was given).

  Raises:
    ConfigError: an unknown value or too many of them, naming the grammar and
      each position's choices.
  """
  parts = [p for p in (arg or "").split(",") if p]
  runlocal = RUNLOCAL in parts
  parts = [p for p in parts if p != RUNLOCAL]
  values = {name: default for name, _, default in fields}
  bad = len(parts) > len(fields)
  for (name, choices, _), part in zip(fields, parts):
    bad = bad or part not in choices
    values[name] = part
  if bad:
    grammar = "".join(f"[,<{name}>]" if i else f"[<{name}>]" for i, (name, _, _) in
                      enumerate(fields)) + f"[,{RUNLOCAL}]"
    choices = "; ".join(f"{name} in {', '.join(c)}" for name, c, _ in fields)
    raise ConfigError(f"Bad config argument {arg!r} for {where}: expected '{grammar}' "
                      f"with {choices}" if fields else
                      f"Bad config argument {arg!r} for {where}: expected '' or '{RUNLOCAL}'")
  return values, runlocal
