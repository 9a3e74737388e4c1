"""Compares finished runs: python -m gan_jax.compare RUN_OR_SWEEP_DIR... [--plot=curves.png]

Each argument is a run folder or a folder of runs (a sweep, or any folder
whose sub-folders are runs). A run folder is a gan_jax run (config.json and
metrics.jsonl) or a TensorBoard event folder of any writer (tfevents files,
e.g. PyTorch's SummaryWriter; its scalars are the rows, and it has no config,
so it forms a group of its own). Runs whose configs differ only in `seed`
form one group; the table gives, per group and metric, the
final value and the best one with its step, as mean ± std over the group's
seeds (sample std, ddof=1). Groups are named by the config fields that differ between the runs
compared (their overrides). `--plot` overlays each group's mean curve of
`--metric` (default: the first eval metric, eval/fid when logged). The
metrics compared are those whose name starts with `--prefix` (eval/).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

from absl import flags
import numpy as np

from gan_jax import cli, config_checks, writers

LOWER_IS_BETTER = ("fid", "kid")  # eval/<name>: the best value is the minimum


@dataclasses.dataclass
class RunRecord:
  workdir: str
  config: dict  # {} for a TensorBoard event folder
  rows: list[dict]
  prefix: str = "eval/"  # the compared metrics' name prefix

  def eval_rows(self) -> list[dict]:
    return [r for r in self.rows if any(k.startswith(self.prefix) for k in r)]


def _kind(folder: str) -> str:
  """'gan_jax' (config.json), 'tensorboard' (event files) or '' (no run)."""
  if os.path.exists(os.path.join(folder, "config.json")):
    return "gan_jax"
  if os.path.isdir(folder) and any("tfevents" in f for f in os.listdir(folder)):
    return "tensorboard"
  return ""


def _read_run(folder: str) -> RunRecord:
  if _kind(folder) == "gan_jax":
    with open(os.path.join(folder, "config.json")) as f:
      return RunRecord(folder, json.load(f), writers.read_metrics(folder))
  return RunRecord(folder, {}, writers.read_tensorboard(folder))


def find_runs(paths: Sequence[str]) -> list[RunRecord]:
  """The runs under `paths` (each a run folder or a folder of run folders;
  a run is a gan_jax run folder or a TensorBoard event folder).

  Raises:
    FileNotFoundError: a path holds no run.
  """
  runs = []
  for path in paths:
    if _kind(path):
      dirs = [path]
    else:
      dirs = sorted((os.path.join(path, d) for d in os.listdir(path)
                     if _kind(os.path.join(path, d))),
                    key=lambda d: (not os.path.basename(d).isdigit(),
                                   int(os.path.basename(d)) if os.path.basename(d).isdigit()
                                   else os.path.basename(d)))
      if not dirs:
        raise FileNotFoundError(f"{path} holds no run (no config.json or TensorBoard events "
                                "in it or its sub-folders)")
    runs += [_read_run(d) for d in dirs]
  return runs


MAX_LABEL_FIELDS = 4


def group_by_overrides(runs: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
  """{label: runs} where runs differing only in `seed` share a label made of the
  fields in which the runs compared differ ('all runs' for a single group); a
  run without a config (TensorBoard events) is a group of its own."""
  configured = [r for r in runs if r.config]
  varying = sorted({k for r in configured[1:]
                    for k in config_checks.changed_fields(configured[0].config, r.config)}
                   - {"seed"})
  groups: dict[str, list[RunRecord]] = {}
  for run in runs:
    if not run.config:
      label = f"tensorboard events: {os.path.basename(os.path.normpath(run.workdir))}"
    else:
      leaves = config_checks.flatten(run.config)
      label = ", ".join(f"{k}={leaves.get(k)!r}" for k in varying) or "all runs"
    groups.setdefault(label, []).append(run)
  return groups


def metric_keys(runs: Sequence[RunRecord]) -> list[str]:
  keys = sorted({k for r in runs for row in r.eval_rows() for k, v in row.items()
                 if k.startswith(r.prefix) and k not in ("step", writers.WALL_TIME)
                 and isinstance(v, (int, float)) and not k.endswith("_std")
                 and "/seed_" not in k})
  return sorted(keys, key=lambda k: (k != "eval/fid", k))


def final_and_best(run: RunRecord, key: str) -> tuple[float, float, int]:
  """(final value, best value, step of the best) of `key` in one run (NaN if not logged)."""
  points = [(r["step"], r[key]) for r in run.eval_rows() if key in r and np.isfinite(r[key])]
  if not points:
    return np.nan, np.nan, -1
  pick = min if key.split("/")[-1].lower() in LOWER_IS_BETTER else max
  step, best = pick(points, key=lambda p: p[1])
  return points[-1][1], best, step


def _fmt(values: list[float]) -> str:
  values = [v for v in values if np.isfinite(v)]
  if not values:
    return "–"
  mean = float(np.mean(values))
  if len(values) == 1:
    return f"{mean:.4g}"
  return f"{mean:.4g} ± {float(np.std(values, ddof=1)):.2g}"  # sample std, as the report


def folder_name(runs: Sequence[RunRecord]) -> str:
  """A short name of a group: its folder (the seeds' common parent) or first run."""
  parents = {os.path.dirname(os.path.normpath(r.workdir)) for r in runs}
  if len(runs) > 1 and len(parents) == 1:
    return os.path.basename(parents.pop())
  name = os.path.basename(os.path.normpath(runs[0].workdir))
  return name if len(runs) == 1 else f"{name} +{len(runs) - 1}"


def _short(label: str) -> str:
  fields = label.split(", ")
  more = len(fields) - MAX_LABEL_FIELDS
  return ", ".join(fields[:MAX_LABEL_FIELDS]) + (f", +{more} more" if more > 0 else "")


def table(groups: dict[str, list[RunRecord]], keys: Sequence[str]) -> str:
  """Markdown: one row per group, final and best (at step) of each metric."""
  header = ["runs", "differs in", "seeds", "last step"] + [f"{k} final" for k in keys] + [
      f"{k} best (step)" for k in keys]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for label, runs in groups.items():
    last = max((row["step"] for r in runs for row in r.rows), default=0)
    cells = [folder_name(runs), _short(label), str(len(runs)), f"{last:,}"]
    stats = {k: [final_and_best(r, k) for r in runs] for k in keys}
    cells += [_fmt([s[0] for s in stats[k]]) for k in keys]
    for k in keys:
      steps = sorted({s[2] for s in stats[k] if s[2] >= 0})
      where = f" ({', '.join(f'{s:,}' for s in steps)})" if steps else ""
      cells.append(_fmt([s[1] for s in stats[k]]) + where)
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def plot(path: str, groups: dict[str, list[RunRecord]], key: str) -> None:
  """Each group's mean curve of `key` (± std over seeds where the steps agree)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 4))
  for label, runs in groups.items():
    curves = [[(r["step"], r[key]) for r in run.eval_rows() if key in r] for run in runs]
    curves = [c for c in curves if c]
    if not curves:
      continue
    n = min(len(c) for c in curves)
    steps = np.array([s for s, _ in curves[0][:n]])
    values = np.array([[v for _, v in c[:n]] for c in curves])
    line, = ax.plot(steps, values.mean(0), marker="o", ms=3,
                    label=f"{folder_name(runs)} (n={len(curves)})")
    if len(curves) > 1:
      ax.fill_between(steps, values.mean(0) - values.std(0), values.mean(0) + values.std(0),
                      color=line.get_color(), alpha=0.15)
  if key.split("/")[-1].lower() in LOWER_IS_BETTER:
    ax.set_yscale("log")
  ax.set_xlabel("generator step")
  ax.set_ylabel(key)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def compare(paths: Sequence[str], *, plot_path: str = "", metric: str = "",
            prefix: str = "eval/") -> str:
  """The markdown table of the runs under `paths` (and the plot, if asked) over
  the metrics named `prefix`*."""
  runs = [dataclasses.replace(r, prefix=prefix) for r in find_runs(paths)]
  groups = group_by_overrides(runs)
  keys = metric_keys(runs)
  out = table(groups, keys)
  if plot_path:
    key = metric or (keys[0] if keys else "")
    if not key:
      raise ValueError("--plot needs an eval metric, and these runs logged none")
    plot(plot_path, groups, key)
    out += f"\n{key} curves: {plot_path}\n"
  return out


def main(argv):
  print(compare(argv[1:], plot_path=flags.FLAGS.plot, metric=flags.FLAGS.metric,
                prefix=flags.FLAGS.prefix), end="")


def define_flags() -> None:
  """--plot, --metric (the run and sweep folders are the arguments)."""
  flags.DEFINE_string("plot", "", "Write the overlaid curves of --metric to this PNG.")
  flags.DEFINE_string("metric", "", "Metric of the plot (default: eval/fid if logged).")
  flags.DEFINE_string("prefix", "eval/", "Compare the metrics whose names start with this "
                      "('' for every logged scalar).")


def run_program() -> None:
  """The `gan-jax-compare` entry point."""
  from absl import app  # pylint: disable=g-import-not-at-top
  define_flags()
  app.run(cli.user_errors_as_one_line(main), flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run_program()
