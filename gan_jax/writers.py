"""Metric logging: metrics.jsonl (the record), metrics.csv and TensorBoard events.

Only plain Python scalars reach the writers (the loop fetches device values at
log time). metrics.jsonl is append-only; on resume it is cut back to the
checkpointed step (so recomputed steps never appear twice) by writing the kept
rows to a temporary file and renaming it over the old one, so a kill at any
moment leaves either the old or the new file, never a part. metrics.csv is
appended to; it is rewritten (also by rename) only when a row brings a column
it lacks, which happens a few times per run, so logging stays linear in time.
TensorBoard events are best-effort: a failed write is a warning, not a stop.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Mapping

from absl import logging
from tensorboardX import SummaryWriter


def _read_jsonl(path: str) -> tuple[list[dict], bool]:
  """(rows, clean): the parsed rows, and False when a line was cut or the
  file does not end with a newline (an append was interrupted)."""
  if not os.path.exists(path):
    return [], True
  with open(path) as f:
    text = f.read()
  rows, clean = [], text == "" or text.endswith("\n")
  for line in text.splitlines():
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError:
      clean = False
  return rows, clean


def read_metrics(workdir: str) -> list[dict]:
  """The rows of a run's metrics.jsonl; a line cut by a crash is skipped."""
  return _read_jsonl(os.path.join(workdir, "metrics.jsonl"))[0]


def _replace_file(path: str, write) -> None:
  """Writes `path` through `write(file)` into path.tmp, then renames it over path."""
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    write(f)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


class MetricWriter:
  """Writes scalars to `<workdir>/metrics.jsonl`, `metrics.csv` and `tb/`.

  Args:
    workdir: run folder.
    resume_step: drop rows logged after this step (0 for a fresh run).
  """

  def __init__(self, workdir: str, *, resume_step: int = 0):
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self.csv_path = os.path.join(workdir, "metrics.csv")
    rows, clean = _read_jsonl(self.jsonl_path)
    self._rows = [r for r in rows if r["step"] <= resume_step]
    if not clean or len(self._rows) != len(rows):
      _replace_file(self.jsonl_path,
                    lambda f: f.writelines(json.dumps(r) + "\n" for r in self._rows))
    self._rewrite_csv()
    self._tb_failed = False
    self._tb = SummaryWriter(os.path.join(workdir, "tb"), purge_step=resume_step + 1)

  def _rewrite_csv(self) -> None:
    self._csv_keys = ["step", *sorted({k for row in self._rows for k in row} - {"step"})]

    def write(f):
      writer = csv.DictWriter(f, fieldnames=self._csv_keys, restval="")
      writer.writeheader()
      writer.writerows(self._rows)
    _replace_file(self.csv_path, write)

  def _append_csv(self, row: dict) -> None:
    if not set(row) <= set(self._csv_keys):
      self._rewrite_csv()  # the new row is in self._rows already
      return
    with open(self.csv_path, "a", newline="") as f:
      csv.DictWriter(f, fieldnames=self._csv_keys, restval="").writerow(row)

  def _write_tb(self, step: int, scalars: Mapping[str, float]) -> None:
    try:
      for key, value in scalars.items():
        self._tb.add_scalar(key, float(value), global_step=int(step))
      self._tb.flush()
    except OSError as e:
      if not self._tb_failed:
        logging.warning("TensorBoard events not written (%s); metrics.jsonl and metrics.csv "
                        "still are. Further failures are not reported.", e)
      self._tb_failed = True

  def write_scalars(self, step: int, scalars: Mapping[str, float], *,
                    metadata: Mapping[str, str | int | float] | None = None) -> None:
    """Logs `scalars` everywhere; `metadata` (e.g. the feature extractor's id
    and sample counts) goes into the JSONL/CSV row only."""
    row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}, **(metadata or {})}
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps(row) + "\n")
    self._rows.append(row)
    self._append_csv(row)
    self._write_tb(step, scalars)

  @property
  def rows(self) -> list[dict]:
    return list(self._rows)

  def close(self) -> None:
    try:
      self._tb.close()
    except OSError as e:
      logging.warning("TensorBoard writer did not close cleanly (%s)", e)
