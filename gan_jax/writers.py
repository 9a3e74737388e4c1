"""Metric logging: TensorBoard event files, metrics.jsonl and metrics.csv.

Only plain Python scalars reach the writers (the loop fetches device values at
log time). On resume the files are cut back to the checkpointed step, so rows
of steps that are recomputed never appear twice.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Mapping

from tensorboardX import SummaryWriter


def read_metrics(workdir: str) -> list[dict]:
  """The rows of a run's metrics.jsonl; a line cut by a crash is skipped."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for line in f:
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError:
        continue
  return rows


class MetricWriter:
  """Writes scalars to `<workdir>/tb/`, `metrics.jsonl` and `metrics.csv`.

  Args:
    workdir: run folder.
    resume_step: drop rows logged after this step (0 for a fresh run).
  """

  def __init__(self, workdir: str, *, resume_step: int = 0):
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self.csv_path = os.path.join(workdir, "metrics.csv")
    self._rows = [r for r in read_metrics(workdir) if r["step"] <= resume_step]
    self._rewrite()
    self._tb = SummaryWriter(os.path.join(workdir, "tb"), purge_step=resume_step + 1)

  def _rewrite(self) -> None:
    with open(self.jsonl_path, "w") as f:
      for row in self._rows:
        f.write(json.dumps(row) + "\n")
    self._write_csv()

  def _write_csv(self) -> None:
    keys = sorted({k for row in self._rows for k in row} - {"step"})
    tmp = self.csv_path + ".tmp"
    with open(tmp, "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=["step", *keys], restval="")
      writer.writeheader()
      writer.writerows(self._rows)
    os.replace(tmp, self.csv_path)

  def write_scalars(self, step: int, scalars: Mapping[str, float], *,
                    metadata: Mapping[str, str | int | float] | None = None) -> None:
    """Logs `scalars` everywhere; `metadata` (e.g. the feature extractor's id
    and sample counts) goes into the JSONL/CSV row only."""
    row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}, **(metadata or {})}
    self._rows.append(row)
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps(row) + "\n")
    self._write_csv()
    for key, value in scalars.items():
      self._tb.add_scalar(key, float(value), global_step=int(step))
    self._tb.flush()

  @property
  def rows(self) -> list[dict]:
    return list(self._rows)

  def close(self) -> None:
    self._tb.close()
