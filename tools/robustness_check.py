"""Preemption, corruption and bad-value checks of a gan_jax checkout, from outside.

  python -m tools.robustness_check --root=. --out=/tmp/robustness [--kills=20]

Every scenario runs `launch.py` of the checkout at --root in subprocesses (so
an older checkout can be checked the same way, for a before / after table) on
a small MLP GAN on the 2-D ring, and prints one markdown row per scenario:
  kill -9 at random times until the run finishes, against an uninterrupted
    run: final checkpoint leaves and metrics.jsonl rows (without perf/*) equal;
  SIGTERM: steps computed but not checkpointed (log_every=1, so the last
    logged step is the last computed one);
  one flipped bit in a checkpoint's largest file, then a resume;
  the issue's bugs: max_checkpoints=0, learning_rate=nan with
    checkpoint_every=1, two processes in one workdir, a changed config on
    resume, num_grid_samples=0; and bad values, with the last stderr line.
The checkpoints are read with this checkout's gan_jax (it reads both layouts).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from absl import app, flags  # pylint: disable=g-multiple-import
import numpy as np

_ROOT = flags.DEFINE_string("root", ".", "The gan_jax checkout whose launch.py is checked.")
_OUT = flags.DEFINE_string("out", "/tmp/robustness", "Scratch folder (deleted first).")
_KILLS = flags.DEFINE_integer("kills", 20, "kill -9 trials.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the kill times and bit positions.")

STEPS = 600
BASE = ["--config=experiments/toy_ring.py", "--config.model.mlp.g_hidden=(64,64)",
        "--config.model.mlp.d_hidden=(64,64)", "--config.dataset.batch_size=32",
        "--config.eval.every_steps=0", "--config.train.progress_bar=False",
        "--config.train.sample_every=150", "--config.train.num_grid_samples=64"]


def launch(workdir: str, *overrides: str, steps: int = STEPS, log_every: int = 10,
           checkpoint_every: int = 50, wait: bool = True):
  cmd = [sys.executable, "launch.py", *BASE, f"--workdir={workdir}",
         f"--config.train.num_steps={steps}", f"--config.train.log_every={log_every}",
         f"--config.train.checkpoint_every={checkpoint_every}", *overrides]
  proc = subprocess.Popen(cmd, cwd=_ROOT.value, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
  if not wait:
    return proc
  _, err = proc.communicate()
  return proc.returncode, (err.strip().splitlines() or [""])[-1]


def rows(workdir: str) -> list[dict]:
  out = []
  for line in open(os.path.join(workdir, "metrics.jsonl")):
    try:
      row = json.loads(line)
    except json.JSONDecodeError:
      continue
    out.append({k: v for k, v in row.items()
                if not (k.startswith("perf/") or k == "wall_time")})  # measured, not computed
  return out


def checkpoint_leaves(workdir: str, step: int | None = None) -> list[np.ndarray]:
  """Raw leaves of a checkpoint (either layout), restored without a target."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  folder = os.path.join(os.path.abspath(workdir), "checkpoints")
  step = step or max(int(s) for s in os.listdir(folder) if s.isdigit())
  item = "state" if os.path.isdir(os.path.join(folder, str(step), "state")) else "default"
  tree = ocp.PyTreeCheckpointer().restore(os.path.join(folder, str(step), item))
  import jax  # pylint: disable=g-import-not-at-top
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
  return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y)
                                  for x, y in zip(a, b))


def check_kills(out: str, rng: np.random.Generator, table: list[list[str]]) -> None:
  ref = os.path.join(out, "straight")
  start = time.perf_counter()
  code, last = launch(ref, log_every=1, checkpoint_every=25)
  run_s = time.perf_counter() - start
  if code:
    raise RuntimeError(f"the uninterrupted run failed: {last}")
  ref_leaves, ref_rows = checkpoint_leaves(ref), rows(ref)
  exact, kills = 0, 0
  for trial in range(_KILLS.value):
    workdir = os.path.join(out, f"killed_{trial}")
    for _ in range(50):
      proc = launch(workdir, log_every=1, checkpoint_every=25, wait=False)
      try:
        proc.wait(timeout=float(rng.uniform(0.3, 1.0)) * run_s)
      except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        kills += 1
        continue
      if proc.returncode == 0:
        break
    exact += same(checkpoint_leaves(workdir), ref_leaves) and rows(workdir) == ref_rows
  table.append([f"kill -9 at random times ({kills} kills over {_KILLS.value} runs, "
                "checkpoint every 25 steps, log every step)",
                f"{exact} of {_KILLS.value} runs bit-identical to an uninterrupted one "
                "(final checkpoint and metrics.jsonl)"])


def check_sigterm(out: str, table: list[list[str]]) -> None:
  lost, codes = [], []
  for trial in range(3):
    workdir = os.path.join(out, f"sigterm_{trial}")
    proc = launch(workdir, steps=10 ** 6, log_every=1, checkpoint_every=10 ** 5, wait=False)
    deadline = time.time() + 120
    while time.time() < deadline and not (os.path.exists(os.path.join(workdir, "metrics.jsonl"))
                                          and len(rows(workdir)) > 50 + 40 * trial):
      time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate()
    codes.append(proc.returncode)
    folder = os.path.join(workdir, "checkpoints")
    saved = max([int(s) for s in os.listdir(folder) if s.isdigit()] or [0])
    lost.append(max(r["step"] for r in rows(workdir)) - saved)
  table.append(["SIGTERM during training (3 runs)",
                f"steps lost {lost}; exit status {codes}"])


def check_bit_flips(out: str, rng: np.random.Generator, table: list[list[str]]) -> None:
  ref = os.path.join(out, "flip_ref")
  launch(ref, "--config.model.mlp.g_hidden=(256,256)", "--config.model.mlp.d_hidden=(256,256)",
         steps=20, checkpoint_every=20)
  results = []
  for trial in range(3):
    workdir = os.path.join(out, f"flip_{trial}")
    shutil.copytree(ref, workdir)
    files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(workdir, "checkpoints", "20"))
             for f in fs]  # the largest holds the weight arrays
    path = max(files, key=os.path.getsize)
    data = bytearray(open(path, "rb").read())
    data[int(rng.integers(len(data) // 4, len(data) - 64))] ^= 1 << int(rng.integers(8))
    open(path, "wb").write(bytes(data))
    code, last = launch(workdir, "--config.model.mlp.g_hidden=(256,256)",
                        "--config.model.mlp.d_hidden=(256,256)", steps=40, checkpoint_every=20)
    results.append("refused" if code and "Corrupt" in last else f"trained on (exit {code})")
  detected = sum(r == "refused" for r in results)
  table.append(["one flipped bit in the checkpoint's largest file, then resume",
                f"{detected} of 3 refused ({', '.join(results)})"])


def check_bugs(out: str, table: list[list[str]]) -> None:
  w = os.path.join(out, "max_ckpt")
  launch(w, steps=100)
  code, last = launch(w, "--config.train.max_checkpoints=0", steps=150)
  left = sorted(os.listdir(os.path.join(w, "checkpoints")))
  table.append(["1: max_checkpoints=0 on resume", f"exit {code}, checkpoints left {left}; {last}"])

  w = os.path.join(out, "nan_lr")
  code, last = launch(w, "--config.optimizer_g.learning_rate=nan", steps=5, log_every=1,
                      checkpoint_every=1)
  folder = os.path.join(w, "checkpoints")
  saved = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
  bad = [s for s in saved if not all(np.isfinite(x).all() for x in checkpoint_leaves(w, int(s))
                                     if x.dtype.kind == "f")]
  table.append(["4: learning_rate=nan, checkpoint_every=1",
                f"exit {code}, checkpoints {saved}, non-finite ones {bad}; {last}"])

  w = os.path.join(out, "two")
  procs = [launch(w, steps=300, wait=False) for _ in range(2)]
  codes = [p.wait() for p in procs]
  logged = [r["step"] for r in rows(w)] if os.path.exists(os.path.join(w, "metrics.jsonl")) else []
  table.append(["5: two processes, one workdir, 300 steps",
                f"exit {codes}; metrics.jsonl {len(logged)} rows for {300 // 10} log steps"])

  w = os.path.join(out, "changed")
  launch(w, steps=100)
  code, last = launch(w, "--config.optimizer_g.learning_rate=0.01", steps=150)
  lr = json.load(open(os.path.join(w, "config.json")))["optimizer_g"]["learning_rate"]
  table.append(["6: resume with another learning rate",
                f"exit {code}, config.json lr {lr}; {last}"])

  w = os.path.join(out, "grid0")
  code, last = launch(w, "--config.train.num_grid_samples=0", steps=200)
  written = os.path.exists(os.path.join(w, "config.json"))
  table.append(["7: num_grid_samples=0", f"exit {code}, config.json written: {written}; {last}"])

  for value in ("--config.optimizer_d.b1=1.5", "--config.penalty.weight=-10",
                "--config.model.mlp.dropout_rate=1.5", "--config.dataset.num_train_examples=-1",
                "--config.model.latent_dim=0", "--config.eval.batch_size=0", "--config.foo=1"):
    w = os.path.join(out, "bad")
    shutil.rmtree(w, ignore_errors=True)
    code, last = launch(w, value, "--config.eval.every_steps=50", steps=50)
    table.append([f"bad value {value[2:]}", f"exit {code}; {last[:160]}"])


def main(argv):
  del argv
  out = os.path.abspath(_OUT.value)
  shutil.rmtree(out, ignore_errors=True)
  os.makedirs(out)
  rng = np.random.default_rng(_SEED.value)
  table: list[list[str]] = []
  start = time.perf_counter()
  for check in (lambda t: check_kills(out, rng, t), lambda t: check_sigterm(out, t),
                lambda t: check_bit_flips(out, rng, t), lambda t: check_bugs(out, t)):
    check(table)
    print(f"[{time.perf_counter() - start:.0f} s] {table[-1][0]}: {table[-1][1]}", flush=True)
  print(f"\nroot {os.path.abspath(_ROOT.value)}\n")
  print("| scenario | outcome |\n|---|---|")
  for scenario, outcome in table:
    print(f"| {scenario} | {outcome.replace('|', '/')} |")


if __name__ == "__main__":
  app.run(main)
