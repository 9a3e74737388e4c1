"""What a run logs besides checkpoints: TensorBoard events (scalars, sample
grids, config text, hparams), metrics.csv one row per step, provenance.json."""

import csv
import json
import os
import struct
import pytest

from experiments import toy_ring
from gan_jax import train


def read_events(folder):
  """Every Event proto of the tfevents files in `folder` (TFRecord framing:
  uint64 length, uint32 CRC, data, uint32 CRC)."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  events = []
  for name in sorted(os.listdir(folder)):
    if "tfevents" not in name:
      continue
    data = open(os.path.join(folder, name), "rb").read()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      events.append(event_pb2.Event.FromString(data[pos + 12:pos + 12 + length]))
      pos += 12 + length + 4
  return events


@pytest.mark.slow
def test_a_run_logs_grids_config_hparams_csv_and_provenance(tmp_path):
  config = toy_ring.get_config()
  config.train.update(num_steps=4, log_every=2, checkpoint_every=4, sample_every=2,
                      num_grid_samples=16, progress_bar=False)
  config.eval.update(every_steps=2, num_samples=100)
  train.train_and_evaluate(config, str(tmp_path))
  events = read_events(tmp_path / "tb")
  values = [(e.step, v) for e in events for v in e.summary.value]
  tags = {v.tag for _, v in values}
  assert {"d/loss", "g/loss", "eval/modes_covered", "samples"} <= tags
  images = [(s, v.image) for s, v in values if v.tag == "samples"]
  assert [s for s, _ in images] == [2, 4] and images[0][1].width > 100
  text = [v for _, v in values if v.tag.startswith("config")]
  assert text and b"objective: non_saturating" in text[0].tensor.string_val[0]
  hparams = [v for _, v in values if v.tag.startswith("_hparams_/")]
  assert {v.tag for v in hparams} >= {"_hparams_/experiment", "_hparams_/session_start_info"}
  start = next(v for v in hparams if v.tag == "_hparams_/session_start_info")
  assert b"optimizer_g.learning_rate" in start.metadata.plugin_data.content

  with open(tmp_path / "metrics.csv") as f:
    rows = list(csv.DictReader(f))
  assert [r["step"] for r in rows] == ["2", "4"]  # train and eval rows merged per step
  assert rows[1]["d/loss"] and rows[1]["eval/modes_covered"] and float(rows[1]["wall_time"]) > 1e9

  provenance = json.load(open(tmp_path / "provenance.json"))
  assert len(provenance) == 1 and provenance[0]["start_step"] == 0
  assert set(provenance[0]["packages"]) >= {"jax", "flax", "optax", "orbax-checkpoint"}
  assert provenance[0]["gan_jax_commit"] == "unknown" or len(provenance[0]["gan_jax_commit"]) >= 40
  config.train.num_steps = 6
  train.train_and_evaluate(config, str(tmp_path))  # a resume adds an entry
  assert [p["start_step"] for p in json.load(open(tmp_path / "provenance.json"))] == [0, 4]


@pytest.mark.slow
def test_wandb_offline_run_gets_scalars_images_and_config_and_a_resume_continues_it(
    tmp_path, monkeypatch):
  import glob  # pylint: disable=g-import-not-at-top
  from experiments import toy_ring  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv("WANDB_MODE", "offline")
  config = toy_ring.get_config()
  config.log.wandb = True
  config.eval.every_steps = 0
  config.train.update(num_steps=4, log_every=2, sample_every=2, checkpoint_every=2,
                      progress_bar=False, num_grid_samples=16)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)
  config.train.num_steps = 6  # a resume: the same W&B run id, steps 5-6
  train.train_and_evaluate(config, workdir)
  run_id = open(os.path.join(workdir, "wandb_run_id")).read().strip()
  runs = sorted(glob.glob(os.path.join(workdir, "wandb", "offline-run-*")))
  assert len(runs) == 2 and all(r.endswith(f"-{run_id}") for r in runs)
  first, second = (open(os.path.join(r, f"run-{run_id}.wandb"), "rb").read() for r in runs)
  for key in (b"d/loss", b"g/loss", b"perf/steps_per_sec", b"samples"):
    assert key in first and key in second
  assert b"tricks.ema_decay" in first and b"non_saturating" in first  # the config, once
  images = lambda r: sorted(os.listdir(os.path.join(r, "files", "media", "images")))
  assert [i.split("_")[1] for i in images(runs[0])] == ["2", "4"]
  assert [i.split("_")[1] for i in images(runs[1])] == ["6"]


def test_wandb_on_without_the_package_fails_before_anything_is_written(tmp_path, monkeypatch):
  import sys  # pylint: disable=g-import-not-at-top
  from experiments import toy_ring  # pylint: disable=g-import-not-at-top
  from gan_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
  config = toy_ring.get_config()
  config.log.wandb = True
  with pytest.raises(ConfigError, match=r"pip install 'gan_jax\[wandb\]'"):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
