"""A tiny explicit name -> object registry that raises on unknown names.

Every choice the config makes by name (objective, penalty, model, dataset,
optimizer, ...) is looked up in a `Registry`, so a typo fails at start-up with
the list of valid names instead of silently falling back to a default.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, Iterator, TypeVar

T = TypeVar("T")


def definition_site(item: Any) -> tuple[str, int, str] | None:
  """(file, first line, qualified name) of the code that defines `item`: a
  function's own, or that of the first function field of a dataclass entry
  (an Objective's d_loss, a Trick's fn); None when it has no code."""
  code = getattr(item, "__code__", None)
  if code is not None:
    return code.co_filename, code.co_firstlineno, getattr(item, "__qualname__", "")
  if dataclasses.is_dataclass(item):
    for field in dataclasses.fields(item):
      site = definition_site(getattr(item, field.name))
      if site is not None:
        return site
  return None


class Registry(Generic[T]):
  """Maps names to objects; `get` raises `ValueError` naming the valid choices.

  Args:
    kind: what the registry holds, used in error messages ("objective").
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._items: dict[str, T] = {}

  def register(self, name: str, item: T | None = None):
    """Registers `item` under `name`; usable as a decorator when `item` is None.

    Raises:
      ValueError: `name` is registered to another definition (registering the
        same function, from the same file and line, again replaces it).
    """
    def _add(obj: T) -> T:
      if name in self._items:
        # The same definition again (a config file imported twice, e.g. by
        # --sweep) replaces the entry; another definition under the name is an error.
        old = definition_site(self._items[name])
        if old is None or old != definition_site(obj):
          raise ValueError(f"{self.kind} {name!r} is already registered")
      self._items[name] = obj
      return obj
    if item is None:
      return _add
    return _add(item)

  def get(self, name: str) -> T:
    """Returns the object registered under `name`.

    Raises:
      ValueError: if `name` is unknown; the message lists the valid names.
    """
    try:
      return self._items[name]
    except KeyError:
      raise ValueError(
          f"Unknown {self.kind} {name!r}; valid choices: {', '.join(self.names())}"
      ) from None

  def names(self) -> list[str]:
    return sorted(self._items)

  def __contains__(self, name: str) -> bool:
    return name in self._items

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())
