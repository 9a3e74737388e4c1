"""The run folder's bookkeeping: one trainer at a time, a truthful config.json,
and provenance.json (what code and command produced each stretch of steps).

`WorkdirLock` keeps a second process from training into the same workdir (a
pid file; a lock whose process is gone is taken over with a warning).
`record_config` writes config.json, and on resume refuses a config that
changed in anything but the trainer's resumable fields (the GAN trainer's:
`config_checks.RESUMABLE_FIELDS`) unless asked to; the replaced config is kept
in config_history/, so the folder always says which config produced which steps.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Collection

from absl import logging
import ml_collections

from gan_jax import compat
from gan_jax import config_checks
from gan_jax.errors import ConfigError, WorkdirLockedError

LOCK_FILE = ".lock"
HISTORY_DIR = "config_history"
PROVENANCE_FILE = "provenance.json"
PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "ml_collections",
            "tensorflow-datasets")


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # alive, owned by someone else
    return True
  return True


class WorkdirLock:
  """`with WorkdirLock(workdir):` holds `<workdir>/.lock` for this process.

  Raises (on entry):
    WorkdirLockedError: a live process holds the lock (or one on another host,
      which cannot be checked); the message names it.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._held = False

  def _read(self) -> dict[str, Any] | None:
    try:
      with open(self.path) as f:
        return json.load(f)
    except (OSError, json.JSONDecodeError):
      return None

  def __enter__(self) -> "WorkdirLock":
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    for _ in range(3):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = self._read()
        if holder is None:
          # Unreadable: being written right now, or left cut by a crash.
          if time.time() - os.path.getmtime(self.path) < 5:
            time.sleep(1)
            continue
        elif holder.get("host") != me["host"] or _pid_alive(int(holder.get("pid", -1))):
          raise WorkdirLockedError(
              f"{os.path.dirname(self.path)} is in use by process {holder.get('pid')} on "
              f"{holder.get('host')} (since {time.ctime(holder.get('since', 0))}); wait for it "
              f"or use another workdir. If that process is gone, delete {self.path}.") from None
        logging.warning("Taking over the stale lock %s (%s)", self.path,
                        "unreadable" if holder is None else f"process {holder['pid']} is gone")
        os.remove(self.path)
        continue
      with os.fdopen(fd, "w") as f:
        json.dump(me, f)
      self._held = True
      return self
    raise WorkdirLockedError(f"Could not take the lock {self.path}; delete it if no run uses "
                             "that workdir")

  def __exit__(self, *exc) -> None:
    if self._held and (self._read() or {}).get("pid") == os.getpid():
      os.remove(self.path)
    self._held = False


def _format_change(path: str, old: Any, new: Any) -> str:
  return f"{path}: {old!r} -> {new!r}"


Upgrade = Callable[[dict[str, Any]], dict[str, Any]]


def check_resumable_config(config: ml_collections.ConfigDict, workdir: str, *,
                           resume_step: int, allow_change: bool = False,
                           resumable_fields: Collection[str] = config_checks.RESUMABLE_FIELDS,
                           upgrade: Upgrade = compat.upgrade_recorded
                           ) -> tuple[dict | None, dict[str, tuple]]:
  """(the recorded config.json or None, its changes in `config`) for a run
  resumed at `resume_step`; writes nothing. Run before the checkpoint is
  restored, so a changed architecture is reported as a changed config rather
  than as a shape mismatch. `upgrade` reads the recorded config in the current
  schema (a field added since reads as its default).

  Raises:
    ConfigError: the config changed in a field outside `resumable_fields`
      and not `allow_change`.
  """
  path = os.path.join(workdir, "config.json")
  old = None
  if os.path.exists(path):
    with open(path) as f:
      try:
        old = json.load(f)
      except json.JSONDecodeError:
        logging.warning("%s is not valid JSON; replacing it", path)
  if old is None or resume_step <= 0:  # with no step trained, nothing to keep
    return old, {}
  # A field the schema moved or added since the run was recorded reads as recorded / default.
  changes = config_checks.changed_fields(upgrade(old), json.loads(config.to_json_best_effort()))
  refused = {k: v for k, v in changes.items() if k not in resumable_fields}
  if refused and not allow_change:
    listed = "; ".join(_format_change(k, *v) for k, v in refused.items())
    raise ConfigError(
        f"{workdir} holds a run (at step {resume_step}) of another config ({listed}). Use a "
        "fresh workdir, or pass --allow_config_change to resume it with the new config "
        f"(the old one is then kept in {HISTORY_DIR}/).")
  return old, changes


def record_config(config: ml_collections.ConfigDict, workdir: str, *, resume_step: int,
                  allow_change: bool = False,
                  resumable_fields: Collection[str] = config_checks.RESUMABLE_FIELDS,
                  upgrade: Upgrade = compat.upgrade_recorded) -> None:
  """Writes `config` to `<workdir>/config.json` (atomically).

  On a resumed run (a checkpoint and a config.json there) a change outside
  `resumable_fields` is refused unless `allow_change` (`check_resumable_config`,
  with `upgrade`); any change keeps the old file as
  config_history/config_step_<resume_step>.json.

  Raises:
    ConfigError: the config changed in a field that alters training; nothing
      is written then.
  """
  path = os.path.join(workdir, "config.json")
  old, changes = check_resumable_config(config, workdir, resume_step=resume_step,
                                        allow_change=allow_change,
                                        resumable_fields=resumable_fields, upgrade=upgrade)
  if old is not None and resume_step > 0:
    if not changes:
      return
    os.makedirs(os.path.join(workdir, HISTORY_DIR), exist_ok=True)
    kept = os.path.join(workdir, HISTORY_DIR, f"config_step_{resume_step}.json")
    with open(kept, "w") as f:
      json.dump(old, f, indent=2, sort_keys=True)
    logging.warning("Resuming %s at step %d with a changed config (%s); the old config is in %s",
                    workdir, resume_step,
                    "; ".join(_format_change(k, *v) for k, v in changes.items()), kept)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(json.loads(config.to_json_best_effort()), f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def git_commit(path: str) -> str:
  """The commit of the git checkout holding `path`, '+dirty' with uncommitted
  changes; 'unknown' outside a checkout (e.g. an installed wheel)."""
  try:
    run = lambda *args: subprocess.run(["git", "-C", path, *args], capture_output=True,
                                       text=True, timeout=10, check=True).stdout.strip()
    commit = run("rev-parse", "HEAD")
    return commit + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
  except (OSError, subprocess.SubprocessError):
    return "unknown"


def record_provenance(workdir: str, *, start_step: int) -> dict[str, Any]:
  """Appends what ran this session to `<workdir>/provenance.json` (a list, one
  entry per start or resume): time, start step, command line, host, Python,
  package versions and the gan_jax git commit. Returns the entry."""
  versions = {}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = "not installed"
  entry = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "start_step": start_step, "argv": sys.argv, "host": socket.gethostname(),
           "python": platform.python_version(), "packages": versions,
           "gan_jax_commit": git_commit(os.path.dirname(os.path.abspath(__file__)))}
  path = os.path.join(workdir, PROVENANCE_FILE)
  try:
    with open(path) as f:
      entries = json.load(f)
  except (OSError, json.JSONDecodeError):
    entries = []
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(entries + [entry], f, indent=1)
  os.replace(tmp, path)
  return entry
