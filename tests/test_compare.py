"""python -m gan_jax.compare: final / best metrics per group of seeds, and overlaid curves."""

import json
import os
import subprocess
import sys

import pytest

from experiments import toy_ring
from gan_jax import compare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_run(workdir, *, seed, lr, fids):
  config = toy_ring.get_config()
  config.seed = seed
  config.optimizer_g.learning_rate = lr
  os.makedirs(workdir)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort())
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    for i, fid in enumerate(fids):
      step = 100 * (i + 1)
      f.write(json.dumps({"step": step, "d/loss": 1.0}) + "\n")
      f.write(json.dumps({"step": step, "eval/fid": fid, "eval/recall": fid / 100,
                          "eval/kid_std": 0.1, "num_fake": 10,
                          "extractor": "cnn"}) + "\n")


@pytest.mark.slow
def test_groups_seeds_and_reports_final_and_best(tmp_path):
  _fake_run(tmp_path / "sweep" / "0", seed=0, lr=1e-3, fids=[50.0, 20.0, 30.0])
  _fake_run(tmp_path / "sweep" / "1", seed=1, lr=1e-3, fids=[40.0, 10.0, 20.0])
  _fake_run(tmp_path / "other", seed=0, lr=1e-2, fids=[90.0, 80.0, 85.0])
  out = compare.compare([str(tmp_path / "sweep"), str(tmp_path / "other")],
                        plot_path=str(tmp_path / "fid.png"))
  lines = out.splitlines()
  assert lines[0] == ("| runs | differs in | seeds | last step | eval/fid final | "
                      "eval/recall final | eval/fid best (step) | eval/recall best (step) |")
  # lr 1e-3, seeds 0 and 1: final FID 30 and 20, best 20 (step 200) and 10 (step 200).
  assert lines[2] == ("| sweep | optimizer_g.learning_rate=0.001 | 2 | 300 | 25 ± 7.1 | "
                      "0.25 ± 0.071 | 15 ± 7.1 (200) | 0.45 ± 0.071 (100) |")
  assert lines[3] == ("| other | optimizer_g.learning_rate=0.01 | 1 | 300 | 85 | 0.85 | "
                      "80 (200) | 0.9 (100) |")
  assert os.path.getsize(tmp_path / "fid.png") > 1000 and "eval/fid curves" in out


def test_a_folder_without_runs_is_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="holds no run"):
    compare.compare([str(tmp_path)])


def test_cli(tmp_path):
  _fake_run(tmp_path / "a", seed=0, lr=1e-3, fids=[5.0])
  out = subprocess.run([sys.executable, "-m", "gan_jax.compare", str(tmp_path / "a")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.splitlines()[2].startswith("| a | all runs | 1 | 100 | 5 | 0.05 | 5 (100) |")


def _event_folder(folder, scalars):
  """TensorBoard events as another codebase writes them (tensorboardX, the
  format of PyTorch's SummaryWriter): {step: {tag: value}}."""
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  writer = SummaryWriter(str(folder))
  for step, values in scalars.items():
    for tag, value in values.items():
      writer.add_scalar(tag, value, global_step=step)
  writer.close()


def test_tensorboard_event_folders_are_runs_beside_gan_jax_runs(tmp_path):
  _fake_run(tmp_path / "ours", seed=0, lr=1e-3, fids=[50.0, 20.0])
  _event_folder(tmp_path / "theirs", {100: {"eval/fid": 70.0, "loss": 1.0},
                                      200: {"eval/fid": 60.0, "eval/recall": 0.3}})
  out = compare.compare([str(tmp_path / "ours"), str(tmp_path / "theirs")]).splitlines()
  assert out[2].startswith("| ours | all runs | 1 | 200 | 20 | 0.2 |")
  assert out[3] == ("| theirs | tensorboard events: theirs | 1 | 200 | 60 | 0.3 | 60 (200) | "
                    "0.3 (200) |")
  # A folder of event folders, and every scalar with --prefix ''.
  _event_folder(tmp_path / "logs" / "b", {5: {"FID": 9.0}, 6: {"FID": 7.0}})
  table = compare.compare([str(tmp_path / "logs")], prefix="").splitlines()
  assert table[0] == "| runs | differs in | seeds | last step | FID final | FID best (step) |"
  assert table[2] == "| b | tensorboard events: b | 1 | 6 | 7 | 7 (6) |"
  # gan_jax rows hold text (the extractor's id): every numeric column, no text one.
  header = compare.compare([str(tmp_path / "ours")], prefix="").splitlines()[0]
  assert "num_fake final" in header and "d/loss final" in header and "extractor" not in header


def test_read_tensorboard_keeps_the_last_value_of_a_step_and_reads_tf2_tensors(tmp_path):
  from gan_jax import writers  # pylint: disable=g-import-not-at-top
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
  from tensorboardX.proto import summary_pb2, tensor_pb2  # pylint: disable=g-import-not-at-top
  writer = SummaryWriter(str(tmp_path))
  writer.add_scalar("a", 1.0, global_step=1)
  writer.add_scalar("a", 2.0, global_step=1)  # a resumed run rewrote step 1
  tensor = tensor_pb2.TensorProto(dtype=1, float_val=[0.5])  # TF2: a float tensor scalar
  writer.file_writer.add_summary(
      summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="b", tensor=tensor)]), 3)
  writer.close()
  assert writers.read_tensorboard(str(tmp_path)) == [{"step": 1, "a": 2.0}, {"step": 3, "b": 0.5}]
