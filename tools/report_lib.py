"""Aggregation, tables and claim verdicts for `tools/report.py` (pure functions).

Metric rows are those of `gan_jax.writers.read_metrics`: train rows carry
`d/loss`, `g/loss`, ... and eval rows `eval/<metric>` beside `floor/<metric>`
(the real-vs-real floor). A run with `num_seeds = N > 1` logs the mean over
seeds under the plain key and each seed under `<key>/seed_<i>`. One cell of
the report (an algorithm on a dataset) is either one such vmapped run or
several single-seed runs; every helper here takes the list of a cell's runs.

Claims are judged by one rule (`compare`): A beats B when the difference of
the seed means exceeds twice its standard error,
2 * sqrt(var_A / n_A + var_B / n_B) (sample variances over seeds); with fewer
than two finite seeds on either side nothing is decided.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Sequence

import numpy as np
import scipy.stats

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive at this budget"


@dataclasses.dataclass
class Run:
  """One training run of the report and what it left behind.

  Attributes:
    name: display name, e.g. "fashion_mnist/wgan".
    workdir: the run folder.
    seeds: the seeds it trains (vmapped in one run when more than one).
    num_steps: generator steps it was asked for.
    rows: its metric rows (`writers.read_metrics`).
    status: "done", "diverged" (a non-finite loss stopped it) or "failed".
    stop_step: the first non-finite step of a diverged run.
    message: the error of a diverged or failed run.
    seconds: wall time spent training it (summed over resumed attempts).
    reused: whether this invocation found it finished and did not train.
  """
  name: str
  workdir: str
  seeds: tuple[int, ...]
  num_steps: int
  rows: list[dict] = dataclasses.field(default_factory=list)
  status: str = "done"
  stop_step: int | None = None
  message: str = ""
  seconds: float = math.nan
  reused: bool = False


def nonfinite_step(message: str) -> int | None:
  """The step named by a `train.NonFiniteLossError` message ("... at step N ...")."""
  match = re.search(r"at step (\d+)", message)
  return int(match.group(1)) if match else None


def seed_values(row: dict, key: str) -> list[float]:
  """Per-seed values of `key` in one row: `key/seed_i` if logged, else [row[key]]."""
  out, i = [], 0
  while f"{key}/seed_{i}" in row:
    out.append(float(row[f"{key}/seed_{i}"]))
    i += 1
  if out:
    return out
  return [float(row[key])] if isinstance(row.get(key), (int, float)) else []


def series(runs: Sequence[Run], key: str) -> tuple[np.ndarray, np.ndarray]:
  """`key` over training for a cell: (steps [T], values [S, T]).

  S counts every seed of every run (NaN where a seed has no value at a step,
  e.g. after its run diverged); steps are the union over runs of the steps
  that logged `key`.
  """
  by_run = [{r["step"]: seed_values(r, key) for r in run.rows if key in r} for run in runs]
  steps = sorted(set().union(*by_run)) if by_run else []
  blocks = []
  for run, by_step in zip(runs, by_run):
    block = np.full((len(run.seeds), len(steps)), np.nan)
    for j, step in enumerate(steps):
      values = by_step.get(step, [])[:len(run.seeds)]
      block[:len(values), j] = values
    blocks.append(block)
  values = np.concatenate(blocks) if blocks else np.zeros((0, 0))
  return np.asarray(steps, np.int64), values


def final_values(runs: Sequence[Run], key: str) -> np.ndarray:
  """Per-seed value of `key` at each run's last step; NaN for runs that did not finish."""
  out = []
  for run in runs:
    rows = [r for r in run.rows if r["step"] == run.num_steps and key in r]
    values = seed_values(rows[-1], key) if run.status == "done" and rows else []
    out.extend(values + [math.nan] * (len(run.seeds) - len(values)))
  return np.asarray(out, np.float64)


def curve_summary(runs: Sequence[Run], key: str, *, reduce: str,
                  last: int | None = None) -> np.ndarray:
  """Per-seed mean, max or min (`reduce`) of `key` over the eval points (only
  over each seed's last `last` values when given)."""
  _, values = series(runs, key)
  fn = {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[reduce]
  out = np.full(len(values), np.nan)
  for i, row in enumerate(values):
    if np.isfinite(row).any():
      row = row[~np.isnan(row)]  # NaN = no value at that step; an inf stays a value
      out[i] = fn(row[-last:] if last else row)
  return out


def correlation(x: np.ndarray, y: np.ndarray, *, method: str) -> float:
  """Pearson or Spearman correlation of finite pairs; NaN with < 3 pairs or no spread."""
  if method not in ("pearson", "spearman"):
    raise ValueError(f"Unknown correlation {method!r}; valid choices: pearson, spearman")
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  keep = np.isfinite(x) & np.isfinite(y)
  x, y = x[keep], y[keep]
  if len(x) < 3 or x.std() == 0 or y.std() == 0:
    return math.nan
  fn = scipy.stats.spearmanr if method == "spearman" else scipy.stats.pearsonr
  return float(fn(x, y)[0])


def loss_quality_correlation(runs: Sequence[Run], *, method: str, min_points: int = 5,
                             loss_key: str = "d/loss", quality_key: str = "eval/fid"
                             ) -> np.ndarray:
  """Per seed, the correlation over eval points of -`loss_key` (for a WGAN critic
  the Wasserstein estimate) with `quality_key`, using the train row logged at
  each eval step (the mean loss since the previous log). NaN with fewer than
  `min_points` points.
  """
  loss_steps, loss = series(runs, loss_key)
  eval_steps, quality = series(runs, quality_key)
  common, li, ei = np.intersect1d(loss_steps, eval_steps, return_indices=True)
  out = np.full(len(quality), np.nan)
  if len(common) < min_points:
    return out
  for s in range(len(quality)):
    x, y = -loss[s, li], quality[s, ei]
    if (np.isfinite(x) & np.isfinite(y)).sum() >= min_points:
      out[s] = correlation(x, y, method=method)
  return out


def fmt(values: np.ndarray, *, digits: int = 2) -> str:
  """'mean ± std' over the finite seeds ('[n/N seeds]' appended when some are missing)."""
  values = np.asarray(values, np.float64)
  finite = values[np.isfinite(values)]
  if not len(finite):
    return "–"
  std = finite.std(ddof=1) if len(finite) > 1 else 0.0
  text = f"{finite.mean():.{digits}f} ± {std:.{digits}f}"
  if len(finite) < len(values):
    text += f" [{len(finite)}/{len(values)} seeds]"
  return text


def compare(a: np.ndarray, b: np.ndarray, *, higher_is_better: bool) -> int:
  """+1 if A is better than B beyond twice the standard error, -1 if worse, else 0."""
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  a, b = a[np.isfinite(a)], b[np.isfinite(b)]
  if len(a) < 2 or len(b) < 2:
    return 0
  diff = a.mean() - b.mean()
  margin = 2 * math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
  if abs(diff) <= margin:
    return 0
  return 1 if (diff > 0) == higher_is_better else -1


def claim_extreme(groups: dict[str, np.ndarray], targets: Sequence[str], *, best: bool,
                  higher_is_better: bool) -> tuple[str, str]:
  """Judges "the `targets` are the best (or worst) of `groups`".

  Agrees when every target beats (or loses to) every other group by the margin
  of `compare`; disagrees when some target loses to (or beats) some other
  group by it; inconclusive otherwise.

  Returns:
    (verdict, reason).
  """
  want = 1 if best else -1
  others = [g for g in groups if g not in targets]
  missing = [t for t in targets if np.isfinite(groups.get(t, np.zeros(0))).sum() < 2]
  if missing or not others:
    return INCONCLUSIVE, f"fewer than 2 finished seeds for {', '.join(missing) or 'the others'}"
  results = {(t, o): compare(groups[t], groups[o], higher_is_better=higher_is_better)
             for t in targets for o in others}
  against = [f"{t} vs {o}" for (t, o), c in results.items() if c == -want]
  if against:
    return DISAGREES, "clearly " + ("worse" if best else "better") + ": " + ", ".join(against)
  open_pairs = [f"{t} vs {o}" for (t, o), c in results.items() if c == 0]
  if open_pairs:
    return INCONCLUSIVE, "within 2 standard errors: " + ", ".join(open_pairs)
  return AGREES, "separated from every other algorithm by more than 2 standard errors"


def claim_tracking(rhos: dict[str, np.ndarray], *, tracking: Sequence[str],
                   not_tracking: Sequence[str], threshold: float = 0.5) -> tuple[str, str]:
  """Judges "the losses of `tracking` follow sample quality, those of
  `not_tracking` do not": mean correlation >= `threshold` for each of
  `tracking`, |mean| < `threshold` for each of `not_tracking`. Inconclusive
  when some algorithm has no finite correlation (too few eval points or seeds).
  """
  means = {}
  for name in (*tracking, *not_tracking):
    values = np.asarray(rhos.get(name, []), np.float64)
    if not np.isfinite(values).any():
      return INCONCLUSIVE, f"no correlation for {name} (too few eval points)"
    means[name] = float(np.nanmean(values))
  wrong = [f"{n} ({means[n]:+.2f})" for n in tracking if means[n] < threshold]
  wrong += [f"{n} ({means[n]:+.2f})" for n in not_tracking if abs(means[n]) >= threshold]
  text = ", ".join(f"{n} {v:+.2f}" for n, v in means.items())
  if wrong:
    return DISAGREES, f"mean correlations {text}; against the claim: {', '.join(wrong)}"
  return AGREES, f"mean correlations {text} (threshold {threshold})"


def diverged_seeds(runs: Sequence[Run]) -> tuple[int, int]:
  """(seeds stopped by a non-finite loss, seeds in total) of a cell."""
  return (sum(len(r.seeds) for r in runs if r.status == "diverged"),
          sum(len(r.seeds) for r in runs))


def claim_divergence(cold: Sequence[Run], warm: Sequence[Run]) -> tuple[str, str]:
  """Judges "training explodes without the warm start and not with it"."""
  (c, cn), (w, wn) = diverged_seeds(cold), diverged_seeds(warm)
  steps = max((r.num_steps for r in cold), default=0)
  text = (f"without warm start {c}/{cn} seeds diverged within {steps} generator steps, "
          f"with it {w}/{wn}")
  if any(r.status == "failed" for r in (*cold, *warm)) or not cn or not wn:
    return INCONCLUSIVE, text + " (a run failed for another reason)"
  if c and not w:
    return AGREES, text
  if not c:
    return DISAGREES, text
  return INCONCLUSIVE, text


def status_text(runs: Sequence[Run]) -> str:
  """'3/3 finished', or which seeds diverged at which step."""
  parts = []
  done = sum(len(r.seeds) for r in runs if r.status == "done")
  total = sum(len(r.seeds) for r in runs)
  parts.append(f"{done}/{total} finished")
  for r in runs:
    seeds = ",".join(str(s) for s in r.seeds)
    if r.status == "diverged":
      parts.append(f"seed {seeds} diverged at step {r.stop_step}")
    elif r.status == "failed":
      parts.append(f"seed {seeds} failed ({r.message[:80]})")
  return "; ".join(parts)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  """A markdown table; every row must have len(header) cells ("|" inside a cell is escaped)."""
  for row in rows:
    if len(row) != len(header):
      raise ValueError(f"row {row} has {len(row)} cells, header has {len(header)}")
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
  return "\n".join(lines) + "\n"
