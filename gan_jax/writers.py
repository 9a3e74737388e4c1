"""Metric logging: metrics.jsonl (the record), metrics.csv and TensorBoard events.

Only plain Python scalars reach the writers (the loop fetches device values at
log time). Every row carries `wall_time` (seconds since the epoch).
metrics.jsonl is append-only; on resume it is cut back to the checkpointed
step (so recomputed steps never appear twice) by writing the kept rows to a
temporary file and renaming it over the old one, so a kill at any moment
leaves either the old or the new file, never a part.
metrics.csv has one row per step (a step's training and evaluation rows
merged); a step's row is appended when the next step's row comes or at close,
and the file is rewritten (also by rename) only when a row brings a column it
lacks, a few times per run, so logging stays linear in time. It is derived:
after a crash, the next run rebuilds it from metrics.jsonl.
TensorBoard gets the scalars, the sample grids, the config as text and the
hparams, and so does Weights & Biases when `wandb` options are given
(`gan_jax.wandb_log`); their writes are best-effort: a failure is a warning,
not a stop.
"""

from __future__ import annotations

import csv
import json
import os
import struct
import time
from typing import Any, Callable, Mapping

from absl import logging
import numpy as np
from tensorboardX import SummaryWriter
from tensorboardX.summary import hparams as hparams_summary

WALL_TIME = "wall_time"


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


def reproducible(rows: list[dict]) -> list[dict]:
  """The rows without what is measured, not computed (perf/*, wall_time): what
  a resumed run reproduces exactly."""
  return [{k: v for k, v in r.items() if not (k.startswith("perf/") or k == WALL_TIME)}
          for r in rows]


def _scalar_of(value: Any) -> float | None:
  """A Summary.Value's scalar: `simple_value` (tensorboardX, PyTorch) or a
  one-element float tensor (TensorFlow 2's tf.summary.scalar); None otherwise."""
  if value.HasField("simple_value"):
    return float(value.simple_value)
  if value.HasField("tensor"):
    tensor = value.tensor
    dtypes = {1: np.float32, 2: np.float64}  # DT_FLOAT, DT_DOUBLE
    if tensor.dtype in dtypes:
      values = (list(tensor.float_val) + list(tensor.double_val)
                or np.frombuffer(tensor.tensor_content, dtypes[tensor.dtype]).tolist())
      if len(values) == 1:
        return float(values[0])
  return None


def read_tensorboard(folder: str) -> list[dict]:
  """The scalars of the TensorBoard event files in `folder` (any writer's:
  gan_jax's tb/, PyTorch's SummaryWriter, TensorFlow's), one row per step
  {"step": s, tag: value, ...}, steps ascending; a later value of a tag at a
  step replaces an earlier one (a resumed run's rewrite). Files are read in
  name order with their TFRecord framing (uint64 length, uint32 CRC, the
  Event, uint32 CRC); a file cut short by a crash ends at its last whole
  record."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  by_step: dict[int, dict] = {}
  for name in sorted(os.listdir(folder)):
    if "tfevents" not in name:
      continue
    with open(os.path.join(folder, name), "rb") as f:
      data = f.read()
    pos = 0
    while pos + 12 <= len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      if pos + 12 + length + 4 > len(data):
        break
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        scalar = _scalar_of(value)
        if scalar is not None:
          by_step.setdefault(int(event.step), {"step": int(event.step)})[value.tag] = scalar
  return [by_step[s] for s in sorted(by_step)]


def rows_per_step(rows: list[dict]) -> list[dict]:
  """Rows of the same step merged into one (later keys win), in step order."""
  merged: dict[int, dict] = {}
  for row in rows:
    merged.setdefault(row["step"], {}).update(row)
  return [merged[s] for s in sorted(merged)]


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
    clock: the wall-clock source (seconds since the epoch).
    wandb: the `config.log` block when `log.wandb` is on (a W&B run beside
      TensorBoard, `gan_jax.wandb_log.WandbSink`), else None.
  """

  def __init__(self, workdir: str, *, resume_step: int = 0,
               clock: Callable[[], float] = time.time, wandb: Mapping[str, Any] | None = None):
    self._clock = clock
    self._wandb = None
    if wandb is not None:
      from gan_jax import wandb_log  # pylint: disable=g-import-not-at-top
      self._wandb = wandb_log.WandbSink(workdir, wandb)
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self.csv_path = os.path.join(workdir, "metrics.csv")
    rows, clean = _read_jsonl(self.jsonl_path)
    self._rows = [r for r in rows if r["step"] <= resume_step]
    if not clean or len(self._rows) != len(rows):
      _replace_file(self.jsonl_path,
                    lambda f: f.writelines(json.dumps(r) + "\n" for r in self._rows))
    self._pending: dict | None = None  # the newest step's CSV row, not yet written
    self._rewrite_csv(rows_per_step(self._rows))
    self._tb_failed = False
    self._tb = SummaryWriter(os.path.join(workdir, "tb"), purge_step=resume_step + 1)

  def _rewrite_csv(self, csv_rows: list[dict]) -> None:
    keys = {k for row in csv_rows for k in row} - {"step", WALL_TIME}
    self._csv_keys = ["step", WALL_TIME, *sorted(keys)]

    def write(f):
      writer = csv.DictWriter(f, fieldnames=self._csv_keys, restval="")
      writer.writeheader()
      writer.writerows(csv_rows)
    _replace_file(self.csv_path, write)

  def _flush_csv(self) -> None:
    row, self._pending = self._pending, None
    if row is None:
      return
    if not set(row) <= set(self._csv_keys):
      self._rewrite_csv(rows_per_step(self._rows))  # every row so far, the pending one included
      return
    with open(self.csv_path, "a", newline="") as f:
      csv.DictWriter(f, fieldnames=self._csv_keys, restval="").writerow(row)

  def _tb_call(self, fn: Callable[..., Any], *args, **kwargs) -> None:
    try:
      fn(*args, **kwargs)
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
    row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}, **(metadata or {}),
           WALL_TIME: round(self._clock(), 3)}
    with open(self.jsonl_path, "a") as f:
      f.write(json.dumps(row) + "\n")
    if self._pending is not None and self._pending["step"] != row["step"]:
      self._flush_csv()
    self._rows.append(row)
    self._pending = {**(self._pending or {}), **row}

    def add_all():
      for key, value in scalars.items():
        self._tb.add_scalar(key, float(value), global_step=int(step))
    self._tb_call(add_all)
    if self._wandb is not None:
      self._wandb.scalars(step, scalars)

  def write_image(self, step: int, tag: str, image: np.ndarray) -> None:
    """A uint8 picture [H, W] or [H, W, C] (e.g. a sample grid) to TensorBoard."""
    image = np.asarray(image)
    self._tb_call(self._tb.add_image, tag, image if image.ndim == 3 else image[..., None],
                  global_step=int(step), dataformats="HWC")
    if self._wandb is not None:
      self._wandb.image(step, tag, image)

  def write_config(self, text: str, hparams: Mapping[str, Any]) -> None:
    """The config as text and its scalar fields as hparams, to TensorBoard."""
    def add():
      self._tb.add_text("config", f"```\n{text}\n```", global_step=0)
      values = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
                for k, v in hparams.items()}
      for summary in hparams_summary(values, {}):
        self._tb.file_writer.add_summary(summary)
    self._tb_call(add)
    if self._wandb is not None:
      self._wandb.config(hparams)

  @property
  def rows(self) -> list[dict]:
    return list(self._rows)

  def close(self) -> None:
    self._flush_csv()
    try:
      self._tb.close()
    except OSError as e:
      logging.warning("TensorBoard writer did not close cleanly (%s)", e)
    if self._wandb is not None:
      self._wandb.close()
