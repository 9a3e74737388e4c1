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
                          "eval/kid_std": 0.1, "num_fake": 10}) + "\n")


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
