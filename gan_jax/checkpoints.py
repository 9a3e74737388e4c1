"""Orbax checkpoints of the GANState in `<workdir>/checkpoints/<step>`.

Each checkpoint holds two items, written together in one atomic save (orbax
writes to a temporary folder and renames it, so a crash leaves the last
complete checkpoint usable):
  state/  the GANState;
  meta/   JSON: a SHA-256 digest of every state leaf, and whatever the loop
          passes along (metrics of steps not yet logged, the run's devices).
A restore recomputes the digests and refuses a checkpoint whose bytes changed
after the save (`CorruptCheckpointError`, naming the checkpoint, the leaf and
the command that falls back to the previous checkpoint). Checkpoints written
before digests existed (a single `default/` item) restore with a warning, and
those written before a state field of ADDED_STATE_FIELDS existed restore with
that field at None (what the run had: no trick kept a state).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from gan_jax import compat
from gan_jax import config_checks
from gan_jax.errors import ConfigError, CorruptCheckpointError  # noqa: F401 (re-exported)

STATE, META = "state", "meta"
# GANState fields added after checkpoints were written; None in a run that does not use them.
ADDED_STATE_FIELDS = ("trick_state",)


def _as_abstract(tree: Any) -> Any:
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def _without_added_fields(restore, state_like: Any, abstract: Any) -> tuple[Any, dict]:
  """`restore(abstract)` -> (state, meta); for a checkpoint written before
  ADDED_STATE_FIELDS existed, the other fields restored into a dict and put
  into `state_like` (the added ones None). Raises the full restore's error when
  `state_like` uses an added field, which such a checkpoint cannot hold, or
  when the second restore fails too."""
  try:
    return restore(abstract)
  except ValueError as error:  # a structure mismatch: an older checkpoint, or a bad one
    if not (dataclasses.is_dataclass(state_like)
            and all(getattr(state_like, f) is None for f in ADDED_STATE_FIELDS)):
      raise
    fields = {f.name: getattr(abstract, f.name) for f in dataclasses.fields(state_like)
              if f.metadata.get("pytree_node", True) and f.name not in ADDED_STATE_FIELDS}
    try:
      state, meta = restore(fields)
    except Exception:  # pylint: disable=broad-except
      raise error from None
    return state_like.replace(**state), meta


def leaf_digests(tree: Any) -> dict[str, str]:
  """{key path: sha256 of dtype, shape and bytes} for every array leaf."""
  out = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    array = np.ascontiguousarray(np.asarray(leaf))
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.tobytes())
    out[jax.tree_util.keystr(path)] = h.hexdigest()
  return out


def _first_line(error: BaseException, limit: int = 160) -> str:
  text = str(error).strip().splitlines()
  line = text[0] if text else ""
  return line if len(line) <= limit else line[:limit] + " ..."


def _bad_file(error: BaseException) -> str:
  """The file a TensorStore error names (its last 'local file "..."'), or ''."""
  files = re.findall(r'local file "([^"]+)"', str(error))
  return f"; bad file {files[-1]}" if files else ""


class Checkpointer:
  """Thin wrapper around `ocp.CheckpointManager` for one run folder.

  Args:
    workdir: run folder; checkpoints go to `<workdir>/checkpoints`.
    max_to_keep: how many recent checkpoints to keep (>= 1).

  Raises:
    ConfigError: max_to_keep < 1 (orbax would delete every checkpoint).
  """

  def __init__(self, workdir: str, *, max_to_keep: int = 3):
    config_checks.check_value("train.max_checkpoints", max_to_keep)
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False,
        cleanup_tmp_directories=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options,
                                          item_names=(STATE, META))
    self._options = options
    self.last_meta: dict[str, Any] = {}

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def path(self, step: int | None) -> str:
    return "none yet" if step is None else os.path.join(self.directory, str(step))

  def save(self, step: int, state: Any, *, meta: dict[str, Any] | None = None) -> None:
    """Saves `state` (host arrays) with its digests and `meta` (JSON-able)."""
    record = {**(meta or {}), "digests": leaf_digests(state)}
    self._manager.save(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardSave(state), META: ocp.args.JsonSave(record)}), force=True)
    self._manager.wait_until_finished()

  def _existing(self, step: int | None) -> int:
    """`step` (default: the latest), checked to exist; FileNotFoundError otherwise."""
    steps = self.all_steps()
    if not steps:
      raise FileNotFoundError(f"No checkpoint in {self.directory}")
    if step is None:
      return steps[-1]
    if step not in steps:
      raise FileNotFoundError(f"No checkpoint at step {step} in {self.directory}; its "
                              f"checkpoints are at steps {', '.join(map(str, steps))}")
    return step

  def read_meta(self, step: int | None = None) -> dict[str, Any]:
    """The meta record of `step` (default: latest) without its digests, read
    without the state; {} for a checkpoint that predates meta records.

    Raises:
      FileNotFoundError: there is no checkpoint (at `step`).
    """
    step = self._existing(step)
    if not os.path.isdir(os.path.join(self.path(step), META)):
      return {}
    meta = dict(self._manager.restore(step, args=ocp.args.Composite(
        **{META: ocp.args.JsonRestore()}))[META])
    meta.pop("digests", None)
    return meta

  def _restore_legacy(self, step: int, abstract: Any) -> Any:
    logging.warning("Checkpoint %s predates digests: restored without verification.",
                    self.path(step))
    legacy = ocp.CheckpointManager(self.directory, options=self._options)
    try:
      return legacy.restore(step, args=ocp.args.StandardRestore(abstract))
    finally:
      legacy.close()

  def _restore_state_and_meta(self, step: int, abstract: Any) -> tuple[Any, dict]:
    restored = self._manager.restore(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardRestore(abstract), META: ocp.args.JsonRestore()}))
    return restored[STATE], dict(restored[META])

  def restore(self, state_like: Any, *, step: int | None = None) -> Any:
    """Restores `step` (default: latest) into the structure of `state_like` and
    verifies every leaf against the digest recorded at save. The checkpoint's
    meta record (without the digests) is left in `self.last_meta`.

    Raises:
      FileNotFoundError: there is no checkpoint, or none at `step`.
      CorruptCheckpointError: the checkpoint is unreadable, does not match
        `state_like`, or a leaf's bytes differ from its digest.
    """
    steps = self.all_steps()
    step = self._existing(step)
    folder, abstract = self.path(step), _as_abstract(state_like)
    fallback = (f"delete it (rm -r {folder}) to resume from step {steps[-2]}"
                if len(steps) > 1 and step == steps[-1] else "start a fresh workdir")
    try:
      if not os.path.isdir(os.path.join(folder, STATE)):
        self.last_meta = {}
        return _without_added_fields(lambda a: (self._restore_legacy(step, a), {}), state_like,
                                     abstract)[0]
      state, meta = _without_added_fields(lambda a: self._restore_state_and_meta(step, a),
                                          state_like, abstract)
    except Exception as e:  # orbax raises many kinds for broken files.
      raise CorruptCheckpointError(
          f"Checkpoint {folder} cannot be restored ({type(e).__name__}: {_first_line(e)}"
          f"{_bad_file(e)}); it is corrupt or of a different config: {fallback}.") from e
    expected = meta.pop("digests", {})
    actual = leaf_digests(state)
    bad = sorted(k for k in set(expected) | set(actual) if expected.get(k) != actual.get(k))
    if bad:
      raise CorruptCheckpointError(
          f"Checkpoint {folder} fails its digest: {len(bad)} leaf/leaves changed since the save "
          f"(first: {bad[0]}, stored under {os.path.join(folder, STATE)}): {fallback}.")
    self.last_meta = meta
    return state

  def close(self) -> None:
    self._manager.close()


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config.json a run wrote into its workdir, as a ConfigDict.

  A field the schema gained after the run was recorded takes its default from
  gan_jax/configs/base.py (an added field's default keeps what the code did
  before it), so library code can read every field of an old run.

  Raises:
    FileNotFoundError: no config.json.
    ConfigError: config.json is not valid JSON (e.g. cut by a full disk).
  """
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: is {workdir} a gan_jax run folder?")
  try:
    with open(path) as f:
      config = ml_collections.ConfigDict(compat.upgrade_recorded(json.load(f)))
  except json.JSONDecodeError as e:
    raise ConfigError(f"{path} is not valid JSON ({e}); restore it from a copy (earlier "
                      "versions are in config_history/ if the config changed)") from e
  return config
