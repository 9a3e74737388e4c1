"""Orbax checkpoints of the GANState in `<workdir>/checkpoints/<step>`.

Saves are synchronous and atomic (orbax writes to a temporary folder and
renames it), so a crash leaves the last complete checkpoint usable. A
checkpoint that cannot be read raises `CorruptCheckpointError` naming it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp


class CorruptCheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored into the expected state."""


def _as_abstract(tree: Any) -> Any:
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
  """Thin wrapper around `ocp.CheckpointManager` for one run folder.

  Args:
    workdir: run folder; checkpoints go to `<workdir>/checkpoints`.
    max_to_keep: how many recent checkpoints to keep.
  """

  def __init__(self, workdir: str, *, max_to_keep: int = 3):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False,
            cleanup_tmp_directories=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def path(self, step: int | None) -> str:
    return "none yet" if step is None else os.path.join(self.directory, str(step))

  def save(self, step: int, state: Any) -> None:
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self._manager.wait_until_finished()

  def restore(self, state_like: Any, *, step: int | None = None) -> Any:
    """Restores `step` (default: latest) into the structure of `state_like`.

    Raises:
      FileNotFoundError: there is no checkpoint.
      CorruptCheckpointError: the checkpoint is unreadable or does not match.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"No checkpoint in {self.directory}")
    try:
      return self._manager.restore(step, args=ocp.args.StandardRestore(_as_abstract(state_like)))
    except Exception as e:  # orbax raises many kinds for broken files.
      raise CorruptCheckpointError(
          f"Checkpoint {self.path(step)} cannot be restored ({type(e).__name__}: {e}). "
          "It is corrupt or was written by a different config; delete that folder to "
          "resume from an earlier checkpoint, or use a fresh workdir.") from e

  def close(self) -> None:
    self._manager.close()


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config.json a run wrote into its workdir, as a ConfigDict."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: is {workdir} a gan_jax run folder?")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))
