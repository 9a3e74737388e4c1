"""Tuning harness for the main job: one training run, several generator EMAs scored.

  python -m tools.tune_main --workdir=/tmp/tune_a --num_steps=6000 \
      --eval_every=500 [--set optimizer_g.learning_rate=2e-4 ...]

Trains `experiments/dcgan_fashion_mnist.py` (with the `--set` overrides) with
the project's own step (`parallel.StepRunner`), and keeps beside the run's
state several generator EMAs with their own (decay, start) pairs (`--emas`).
The EMAs do not feed back into training, so one run measures them all on the
same trajectory. Every `--eval_every` steps each EMA (and the raw G) is
scored by `evaluation.Evaluator` on `eval.num_samples` samples; one JSON line
per evaluation goes to WORKDIR/tune.jsonl (step, seconds of training so far,
and `fid`, `recall`, `precision`, `score` per EMA). This is how the tuning
table of the main job was measured; the main job itself runs through
`launch.py`.
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import dcgan_fashion_mnist
from gan_jax import data as data_lib, evaluation, parallel

_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (tune.jsonl).")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 6000, "Generator steps.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 500, "Score every n steps.")
_EMAS = flags.DEFINE_list("emas", ["0.99@0", "0.995@0", "0.999@0", "0.999@1000", "0.9995@1000"],
                          "decay@start pairs of the generator EMAs to score.")
_SET = flags.DEFINE_multi_string("set", [], "Config overrides path=value (Python literal).")


def parse_emas(entries: list[str]) -> list[tuple[float, int]]:
  out = []
  for entry in entries:
    decay, _, start = entry.partition("@")
    out.append((float(decay), int(start or 0)))
  return out


def apply_override(config, entry: str) -> None:
  import ast  # pylint: disable=g-import-not-at-top
  path, _, value = entry.partition("=")
  *parents, leaf = path.split(".")
  node = config
  for p in parents:
    node = node[p]
  node[leaf] = ast.literal_eval(value)


def main(argv):
  del argv
  config = dcgan_fashion_mnist.get_config()
  config.tricks.ema_decay = 0.0  # the EMAs live here, outside the state
  for entry in _SET.value:
    apply_override(config, entry)
  config.train.num_steps = _NUM_STEPS.value
  os.makedirs(_WORKDIR.value, exist_ok=True)
  with open(os.path.join(_WORKDIR.value, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  emas = parse_emas(_EMAS.value)
  dataset = data_lib.get_dataset(config.dataset)
  runner = parallel.StepRunner(config, dataset)
  state = runner.place(runner.init_state())
  evaluator = evaluation.Evaluator(config, dataset)

  @jax.jit
  def update_emas(averages, params, step):
    return [jax.tree.map(lambda e, p: jnp.where(step >= start, d * e + (1 - d) * p, p), avg, params)
            for avg, (d, start) in zip(averages, emas)]

  averages = [jax.tree.map(jnp.copy, state.g_params) for _ in emas]
  out_path = os.path.join(_WORKDIR.value, "tune.jsonl")
  train_seconds = 0.0
  with open(out_path, "a") as out:
    for step in range(1, _NUM_STEPS.value + 1):
      t0 = time.perf_counter()
      state, metrics = runner(state, step - 1)
      averages = update_emas(averages, state.g_params, state.step - 1)
      jax.block_until_ready(averages)
      if step % 50 == 0:
        metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if not all(np.isfinite(v) for v in metrics.values()):
          raise FloatingPointError(f"non-finite metrics at step {step}: {metrics}")
      train_seconds += time.perf_counter() - t0
      if step % _EVAL_EVERY.value == 0 or step == _NUM_STEPS.value:
        host = runner.unplace(state)
        row = {"step": step, "train_seconds": round(train_seconds, 1)}
        candidates = [("raw", host.replace(ema_params=None))] + [
            (f"ema{d:g}@{s}", host.replace(ema_params=a)) for (d, s), a in zip(emas, averages)]
        for name, candidate in candidates:
          scores = evaluator(candidate)
          row[name] = {k[len("eval/"):]: round(float(v), 4) for k, v in scores.items()
                       if k in ("eval/fid", "eval/recall", "eval/precision", "eval/score")}
        out.write(json.dumps(row) + "\n")
        out.flush()
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
