"""Hyper-parameter sweeps: lists of config overrides, and running them.

An experiment file may define `get_sweep([arg])` beside `get_config([arg])`.
It returns a list of override sets, each a flat dict mapping a dotted config
path (spelt with a leading 'config.') to a value:

  def get_sweep(arg=None):
    lrs = sweep_lib.zipit(sweep_lib.sweep("config.optimizer_g.learning_rate", [1e-4, 2e-4]),
                          sweep_lib.sweep("config.optimizer_d.learning_rate", [1e-4, 2e-4]))
    return sweep_lib.product(lrs, sweep_lib.sweep("config.objective", ["non_saturating", "hinge"]))

gives 4 override sets. `python launch.py --config=experiments/X.py[:arg] --sweep
--workdir=DIR` trains each in `DIR/<index>_<overrides>` (index in list order,
e.g. `1_objective=hinge_optimizer_d.learning_rate=0.0003`), writes
`DIR/sweep.json` mapping index -> overrides, and ends with a comparison table
of the runs in `DIR/summary.md` (gan_jax/compare.py). Overrides are applied
after the command-line `--config.*` overrides, so a sweep value wins over a
flag. With `keep_going` (launch.py --keep_going) a run that diverges is
recorded and the sweep goes on.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import itertools
import json
import os
import re
from typing import Any, Callable, Iterable, Sequence

from absl import logging
import ml_collections

from gan_jax.errors import NonFiniteLossError

MAX_DIR_NAME = 120

Overrides = dict[str, Any]
PREFIX = "config."


def _full_name(name: str) -> str:
  """'a.b' or 'config.a.b' -> 'config.a.b'; ValueError for an empty path."""
  if not isinstance(name, str):
    raise ValueError(f"A sweep name must be a dotted config path string, got {name!r}")
  path = name[len(PREFIX):] if name.startswith(PREFIX) else name
  if not path or any(not part for part in path.split(".")):
    raise ValueError(f"Bad sweep name {name!r}: expected a dotted path like 'config.a.b'")
  return PREFIX + path


def _merge(parts: Iterable[Overrides]) -> Overrides:
  """Merges override dicts; a key set by two of them is a ValueError."""
  merged: Overrides = {}
  for part in parts:
    for key, value in part.items():
      if key in merged:
        raise ValueError(f"Sweep key {key!r} is set by two of the combined sweeps "
                         f"(values {merged[key]!r} and {value!r})")
      merged[key] = value
  return merged


def sweep(name: str, values: Iterable[Any]) -> list[Overrides]:
  """One field taking each of `values`: [{'config.<name>': v} for v in values].

  Args:
    name: dotted config path, with or without the leading 'config.'.
    values: the values, in run order.

  Raises:
    ValueError: an empty path, or no values.
  """
  key = _full_name(name)
  values = list(values)
  if not values:
    raise ValueError(f"sweep({name!r}) got no values")
  return [{key: v} for v in values]


def product(*sweeps: Sequence[Overrides]) -> list[Overrides]:
  """The Cartesian product of sweeps; the last sweep varies fastest.

  `product(a, b)` has len(a) * len(b) override sets; `product()` is [{}] (one
  run with no overrides).

  Raises:
    ValueError: two sweeps set the same key.
  """
  return [_merge(combo) for combo in itertools.product(*sweeps)]


def zipit(*sweeps: Sequence[Overrides]) -> list[Overrides]:
  """Zips sweeps of equal length: the i-th run takes the i-th set of each.

  Raises:
    ValueError: the sweeps' lengths differ (all lengths are named), or two
      sweeps set the same key.
  """
  lengths = [len(s) for s in sweeps]
  if len(set(lengths)) > 1:
    raise ValueError(f"zipit needs sweeps of equal length, got lengths {lengths}")
  return [_merge(combo) for combo in zip(*sweeps)]


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Overrides) -> ml_collections.ConfigDict:
  """Returns a copy of `config` with the dotted keys of `overrides` set.

  The copy keeps the lock state of `config`; on a locked config only existing
  fields can be set, and ConfigDict's type checks apply (an int may fill a
  float field; a string may not).

  Args:
    config: the experiment config (usually locked by launch.py).
    overrides: {'config.a.b': value, ...}; the 'config.' prefix is optional.

  Raises:
    ValueError: a key names no field; the message names the key and the fields
      that exist where it went wrong.
    TypeError: a value does not fit the field's type; the message names the key.
  """
  config = copy.deepcopy(config)
  for name, value in overrides.items():
    key = _full_name(name)
    parts = key[len(PREFIX):].split(".")
    node = config
    for depth, part in enumerate(parts):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        where = PREFIX + ".".join(parts[:depth]) if depth else "config"
        fields = (", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict)
                  else f"none: it is a {type(node).__name__}")
        raise ValueError(f"Override {name!r}: {where} has no field {part!r} "
                         f"(fields: {fields})")
      if depth < len(parts) - 1:
        node = node[part]
    try:
      node[parts[-1]] = value
    except TypeError as e:
      raise TypeError(f"Override {name!r} = {value!r} does not fit the field: {e}") from e
  return config


def load_sweep(config_flag_value: str) -> list[Overrides]:
  """Calls `get_sweep` of the experiment file named by a --config flag value.

  Args:
    config_flag_value: 'path/to/experiment.py' or 'path/to/experiment.py:arg'
      (everything after the first ':' is the arg, as for get_config). The arg
      is passed to get_sweep if get_sweep takes a parameter.

  Returns:
    The override sets, in run order.

  Raises:
    ValueError: the file defines no get_sweep, or it returned something other
      than a non-empty list of dicts.
  """
  path, *arg = config_flag_value.split(":", 1)
  spec = importlib.util.spec_from_file_location("gan_jax_sweep_experiment", path)
  if spec is None or spec.loader is None:
    raise ValueError(f"Cannot import the experiment file {path!r}")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  get_sweep = getattr(module, "get_sweep", None)
  if not callable(get_sweep):
    raise ValueError(f"--sweep needs a get_sweep() in {path}, which defines none; add one "
                     "built with gan_jax.sweep (product / sweep / zipit), or drop --sweep")
  overrides = get_sweep(*arg) if inspect.signature(get_sweep).parameters else get_sweep()
  if (not isinstance(overrides, (list, tuple)) or not overrides
      or not all(isinstance(o, dict) for o in overrides)):
    raise ValueError(f"{path}: get_sweep() must return a non-empty list of override dicts, "
                     f"got {overrides!r}")
  return [dict(o) for o in overrides]


def run_dir_name(index: int, overrides: Overrides) -> str:
  """`<index>_<key>=<value>_...` with the 'config.' prefixes dropped and other
  runs of other characters than letters, digits and ._=+- replaced by one '-'
  (at most 120 characters)."""
  parts = [f"{k[len(PREFIX):] if k.startswith(PREFIX) else k}={v}"
           for k, v in sorted(overrides.items())]
  name = re.sub(r"[^A-Za-z0-9._=+-]+", "-", "_".join([str(index), *parts]))
  return name[:MAX_DIR_NAME]


def run_workdir(workdir: str, index: int, overrides: Overrides) -> str:
  """The run folder of sweep entry `index` (a sweep started before runs were named
  after their overrides keeps its `<index>` folders)."""
  legacy = os.path.join(workdir, str(index))
  if os.path.exists(os.path.join(legacy, "config.json")):
    return legacy
  return os.path.join(workdir, run_dir_name(index, overrides))


def run_sweep(config: ml_collections.ConfigDict, workdir: str,
              overrides: Sequence[Overrides],
              train_fn: Callable[[ml_collections.ConfigDict, str], Any], *,
              keep_going: bool = False) -> list[str]:
  """Trains `config` with each override set in `run_workdir(...)`, in order.

  Every override set is applied (and so checked) before the first run starts;
  `workdir/sweep.json` records {"<index>": overrides}. A run whose workdir has
  checkpoints resumes, so a restarted sweep picks up where it stopped. At the
  end, `workdir/summary.md` compares the runs (and names the diverged ones).

  Args:
    config: the base config (command-line overrides already applied).
    workdir: the sweep's folder.
    overrides: override sets, e.g. from `load_sweep`.
    train_fn: `train.train_and_evaluate` (a parameter, so this module does not
      import the training stack).
    keep_going: a run that diverges (NonFiniteLossError) is logged and the
      sweep goes on; otherwise the error stops the sweep.

  Returns:
    The run workdirs, in index order.

  Raises:
    ValueError / TypeError: see `apply_overrides`; nothing has been trained then.
    NonFiniteLossError: a run diverged (without keep_going).
  """
  configs = [apply_overrides(config, o) for o in overrides]
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "sweep.json"), "w") as f:
    json.dump({str(i): o for i, o in enumerate(overrides)}, f, indent=2, default=repr)
  run_dirs = [run_workdir(workdir, i, o) for i, o in enumerate(overrides)]
  diverged = {}
  for i, (run_config, run_dir) in enumerate(zip(configs, run_dirs)):
    logging.info("Sweep run %d/%d in %s with overrides %s", i + 1, len(configs), run_dir,
                 overrides[i])
    try:
      train_fn(run_config, run_dir)
    except NonFiniteLossError as e:
      if not keep_going:
        raise
      logging.warning("Sweep run %d diverged, going on: %s", i, e)
      diverged[os.path.basename(run_dir)] = str(e)
  write_summary(workdir, run_dirs, diverged)
  return run_dirs


def write_summary(workdir: str, run_dirs: Sequence[str], diverged: dict[str, str]) -> None:
  """`workdir/summary.md`: the comparison table of the runs that wrote a config
  (gan_jax/compare.py), then the diverged runs; also logged."""
  from gan_jax import compare  # pylint: disable=g-import-not-at-top
  runs = [d for d in run_dirs if os.path.exists(os.path.join(d, "config.json"))]
  if not runs:
    return
  records = compare.find_runs(runs)
  text = compare.table(compare.group_by_overrides(records), compare.metric_keys(records))
  if diverged:
    text += "\nDiverged:\n" + "".join(f"- {name}: {msg}\n" for name, msg in diverged.items())
  with open(os.path.join(workdir, "summary.md"), "w") as f:
    f.write(text)
  logging.info("Sweep summary (%s):\n%s", os.path.join(workdir, "summary.md"), text)
