"""Speed of the compiled train step per objective and batch size (seed-000 DCGAN-28).

  python -m tools.benchmark [--objectives=ns,wgan,wgan_gp,r1] [--batch_sizes=64,256]
      [--steps=20] [--rounds=1] [--torch_python=.venv-torch/bin/python]
      [--output=results/benchmark.md]

One timed step is one generator update with the critic update(s) before it,
exactly as `gan_jax.steps.make_train_step` builds it for training:

| name    | objective      | k | optimizers                 | extra                   |
|---------|----------------|---|----------------------------|-------------------------|
| ns      | non_saturating | 1 | Adam 2e-4, b1 0.5          | -                       |
| wgan    | wasserstein    | 5 | RMSprop 5e-5               | clip D to [-0.01, 0.01] |
| wgan_gp | wasserstein    | 5 | Adam 1e-4, b1 0.5, b2 0.9  | GP lambda 10            |
| r1      | non_saturating | 1 | Adam 2e-4, b1 0.5          | R1 gamma 10             |

These are the steps of ../shared/peers/torch_dcgan_bench.py; ns and r1 share
one G(z) between the D and G updates as the peer does by default
(`config.share_latents`; `--noshare_latents` compares with its `--fresh-z`).
Real batches come
from a fixed pool of uniform noise in [-1, 1] (speed, not training). Timing:
`--warmup` untimed steps after compilation, then the median of `--steps` steps,
each ended by block_until_ready; the state is donated as in training. With
`--rounds=R` that is repeated R times on the one compiled step, and reported
is the median of the rounds' medians.
Reported: compile time (lower + compile; a persistent-cache hit when
JAX_COMPILATION_CACHE_DIR holds this step already), steps/s, images/s (real
images through D per second, k * B per step), the step's FLOPs from XLA's cost
analysis, achieved GFLOP/s and its share of a measured float32 matmul peak.
With `--torch_python` (a Python that has torch, e.g. a separate venv with
`pip install torch==2.13.0`) the PyTorch peer runs right after each round of
ours, with the same batch size, steps and warm-up, and the table gets the
median of the rounds' ratios (their range in brackets): on a shared machine a
burst of load then hits both sides.
The same command runs on a GPU (the peer stays on the CPU then).
"""

from __future__ import annotations

import functools
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Callable

from absl import app, flags  # pylint: disable=g-multiple-import
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments import seed000_table1
from gan_jax import conv as conv_lib
from gan_jax import state as state_lib, steps

PEER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir,
                    "shared", "peers", "torch_dcgan_bench.py")
TORCH_NAMES = {"ns": "nsgan", "wgan": "wgan", "wgan_gp": "wgan-gp", "r1": "r1"}
SAMPLE_SHAPE = (28, 28, 1)

_OBJECTIVES = flags.DEFINE_list("objectives", list(TORCH_NAMES), "Steps to time.")
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["64", "256"], "Batch sizes to time.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per cell (median reported).")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps after compilation.")
_CONV_IMPL = flags.DEFINE_string("conv_impl", "auto", "model.conv_impl to time.")
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Rounds per cell, ours then the peer's in each "
                               "(one compilation); ms and ratios are medians over rounds.")
_TORCH_PYTHON = flags.DEFINE_string("torch_python", "", "Python with torch: run the peer too.")
_PEER = flags.DEFINE_string("peer", PEER, "The PyTorch peer script.")
_TORCH_THREADS = flags.DEFINE_integer("torch_threads", 0, "Peer threads (0 = CPU count).")
_OUTPUT = flags.DEFINE_string("output", "", "Also write the markdown table here.")
_SHARE = flags.DEFINE_bool("share_latents", True, "ns / r1: one G(z) for both updates (the "
                           "peer's default); --noshare_latents: fresh z (the peer's --fresh-z).")
_XLA_FLAGS = flags.DEFINE_string("xla_flags", "", "Appended to XLA_FLAGS before JAX starts, "
                                 "e.g. --xla_cpu_use_xnnpack=true.")


def objective_config(name: str, *, batch_size: int, conv_impl: str,
                     share_latents: bool = True) -> ml_collections.ConfigDict:
  """The seed-000 config of one benchmark objective (see the module docstring).

  With `share_latents` the k = 1 steps (ns, r1) draw one z for both updates, so
  G's forward pass is shared, as in the peer's default; without it they draw
  fresh latents for the G update (the peer's `--fresh-z`).
  """
  if name not in TORCH_NAMES:
    raise ValueError(f"Unknown objective {name!r}; valid choices: {', '.join(TORCH_NAMES)}")
  algo = {"ns": "dcgan", "r1": "dcgan"}.get(name, name)
  config = seed000_table1.get_config(algo)
  if name == "r1":
    config.penalty.update(name="r1", weight=10.0)
  config.dataset.batch_size = batch_size
  config.model.conv_impl = conv_impl
  config.share_latents = share_latents and config.num_critic_steps == 1
  return config


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
  """Measured float32 GFLOP/s of an n x n matmul on the default device."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  matmul = jax.jit(lambda x, y: x @ y)
  matmul(a, a).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    matmul(a, a).block_until_ready()
    times.append(time.perf_counter() - t)
  return 2 * n ** 3 / statistics.median(times) / 1e9


def _busy_cpu_seconds() -> float | None:
  """CPU-seconds every process on the machine spent busy (Linux), else None."""
  try:
    with open("/proc/stat") as f:
      fields = [int(v) for v in f.readline().split()[1:]]
  except (OSError, ValueError):
    return None
  return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
  t = os.times()
  return t.user + t.system


def time_step(config: ml_collections.ConfigDict, *, steps_: int, warmup: int, rounds: int = 1,
              between: Callable[[], float] | None = None) -> dict:
  """Compiles one train step and times it in `rounds` rounds of `warmup` +
  `steps_` steps. Returns a dict of measurements: ms is the median of the
  rounds' medians. With `between` (e.g. the peer, returning its ms per step),
  it runs after each round, and the dict gets its median (`torch_ms`) and the
  rounds' ratios of its time over ours (`ratios`): interleaving the two makes
  a burst of load on this machine hit both sides.
  """
  if rounds < 1 or steps_ < 1:
    raise ValueError(f"rounds and steps must be >= 1, got rounds={rounds}, steps={steps_}")
  k, b = config.num_critic_steps, config.dataset.batch_size
  state = state_lib.create_state(config, sample_shape=SAMPLE_SHAPE)
  pool = jax.random.uniform(jax.random.PRNGKey(1), (4, k, b, *SAMPLE_SHAPE), jnp.float32,
                            minval=-1.0, maxval=1.0)
  step = jax.jit(steps.make_train_step(config), donate_argnums=0)
  t = time.perf_counter()
  compiled = step.lower(state, pool[0]).compile()
  compile_s = time.perf_counter() - t
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
  medians, peer, foreign = [], [], []
  for _ in range(rounds):
    for i in range(warmup):
      state, metrics = compiled(state, pool[i % len(pool)])
    jax.block_until_ready(state)
    times = []
    busy0, own0, wall0 = _busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
    for i in range(steps_):
      t = time.perf_counter()
      state, metrics = compiled(state, pool[i % len(pool)])
      jax.block_until_ready(state)
      times.append(time.perf_counter() - t)
    busy1, own1, wall1 = _busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
    foreign.append(float("nan") if busy0 is None else
                   max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall1 - wall0))
    medians.append(statistics.median(times))
    if between is not None:
      peer.append(between())
  losses = {key: float(metrics[key]) for key in ("d/loss", "g/loss")}
  if not all(np.isfinite(list(losses.values()))):
    raise FloatingPointError(f"non-finite loss in the benchmark: {losses}")
  seconds = statistics.median(medians)
  row = dict(ms=seconds * 1e3, compile_s=compile_s, steps_per_s=1 / seconds,
             images_per_s=k * b / seconds, gflop=flops / 1e9, gflops=flops / 1e9 / seconds,
             foreign_cores=max(foreign), round_ms=[m * 1e3 for m in medians], **losses)
  if peer:
    row.update(torch_ms=statistics.median(peer),
               ratios=[p / (m * 1e3) for p, m in zip(peer, medians)])
  return row


def time_peer(name: str, *, batch_size: int, steps_: int, warmup: int) -> float:
  """ms per step of the PyTorch peer (median), run in `--torch_python`."""
  threads = _TORCH_THREADS.value or os.cpu_count()
  cmd = [_TORCH_PYTHON.value, _PEER.value, "--objective", TORCH_NAMES[name],
         "--batch-size", str(batch_size), "--steps", str(steps_), "--warmup", str(warmup),
         "--threads", str(threads), "--quiet"] + ([] if _SHARE.value else ["--fresh-z"])
  out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
  match = re.search(r"ms_per_step=([0-9.]+)", out)
  if not match:
    raise RuntimeError(f"could not parse the peer's output: {out!r}")
  return float(match.group(1))


def table(rows: list[dict], *, peak: float, with_peer: bool) -> str:
  """The markdown table of `rows` (one per objective and batch size)."""
  head = ("| objective | batch | k | ms / step | steps/s | images/s | compile s | GFLOP / step "
          "| GFLOP/s | % of matmul peak | other load (cores) |")
  rule = "|---|---|---|---|---|---|---|---|---|---|---|"
  if with_peer:
    head += " PyTorch ms / step | speed-up |"
    rule += "---|---|"
  lines = [head, rule]
  for r in rows:
    line = (f"| {r['name']} | {r['batch']} | {r['k']} | {r['ms']:.1f} | {r['steps_per_s']:.2f} "
            f"| {r['images_per_s']:.0f} | {r['compile_s']:.1f} | {r['gflop']:.2f} "
            f"| {r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f} | {r['foreign_cores']:.2f} |")
    if with_peer:
      ratios = r.get("ratios") or [r["torch_ms"] / r["ms"]]
      spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
      line += f" {r['torch_ms']:.1f} | {statistics.median(ratios):.2f}x{spread} |"
    lines.append(line)
  return "\n".join(lines)


def main(argv):
  del argv
  if _XLA_FLAGS.value:  # read when the backend starts, on first use below
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_FLAGS.value}".strip()
  for name in _OBJECTIVES.value:
    if name not in TORCH_NAMES:
      raise ValueError(
          f"Unknown objective {name!r}; valid choices: {', '.join(TORCH_NAMES)}")
  with_peer = bool(_TORCH_PYTHON.value)
  if with_peer and not os.path.exists(_PEER.value):
    raise FileNotFoundError(f"PyTorch peer not found at {_PEER.value}; pass --peer")
  device = jax.devices()[0]
  peak = matmul_peak_gflops()
  print(f"# {device.platform} {device.device_kind}, {jax.device_count()} device(s), "
        f"{os.cpu_count()} CPUs; float32 matmul peak {peak:.0f} GFLOP/s; "
        f"compile cache {os.environ.get('JAX_COMPILATION_CACHE_DIR') or 'off'}", flush=True)
  rows = []
  for name in _OBJECTIVES.value:
    for batch in map(int, _BATCH_SIZES.value):
      config = objective_config(name, batch_size=batch, conv_impl=_CONV_IMPL.value,
                                share_latents=_SHARE.value)
      peer = functools.partial(time_peer, name, batch_size=batch, steps_=_STEPS.value,
                               warmup=_WARMUP.value) if with_peer else None
      row = dict(name=name, batch=batch, k=config.num_critic_steps,
                 **time_step(config, steps_=_STEPS.value, warmup=_WARMUP.value,
                             rounds=_ROUNDS.value, between=peer))
      msg = (f"{name} b{batch}: {row['ms']:.1f} ms/step (rounds "
             f"{', '.join(f'{m:.0f}' for m in row['round_ms'])}; compile {row['compile_s']:.1f} s)")
      if with_peer:
        msg += (f"; PyTorch {row['torch_ms']:.1f} ms; ratio per round "
                f"{', '.join(f'{x:.2f}' for x in row['ratios'])}")
      print(msg, flush=True)
      rows.append(row)
  impl = f"{_CONV_IMPL.value} ({conv_lib.resolve_conv_impl(_CONV_IMPL.value)})"
  text = (f"{device.platform} ({device.device_kind}), conv_impl={impl}, "
          f"share_latents={_SHARE.value}, XLA_FLAGS='{os.environ.get('XLA_FLAGS', '')}', "
          f"median of {_STEPS.value} steps after {_WARMUP.value} warm-up, median of "
          f"{_ROUNDS.value} round(s), each of ours followed by the peer's; matmul peak "
          f"{peak:.0f} GFLOP/s\n\n" + table(rows, peak=peak, with_peer=with_peer))
  print(text)
  if _OUTPUT.value:
    os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
    with open(_OUTPUT.value, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  app.run(main)
