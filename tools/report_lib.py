"""Aggregation, tables and claim verdicts for `tools/report.py` (pure functions).

Metric rows are those of `gan_jax.writers.read_metrics`: train rows carry
`d/loss`, `g/loss`, ... and eval rows `eval/<metric>` beside `floor/<metric>`
(the real-vs-real floor). A run with `num_seeds = N > 1` logs the mean over
seeds under the plain key and each seed under `<key>/seed_<i>`. One cell of
the report (an algorithm on a dataset) is either one such vmapped run or
several single-seed runs; every helper here takes the list of a cell's runs.

Claims are judged by significance tests on the per-seed values: Welch's t-test
(one-sided, in the claim's direction) for a difference of means, Fisher's
exact test for counts of exploded seeds, a one-sample t-test against a level;
a claim over several comparisons holds only if each does (intersection-union).
`judge` applies Holm's correction over every tested claim of the report, both
directions of each, and calls a claim "agrees" / "disagrees" only at an
adjusted p < 0.05.
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
                             loss_key: str = "d/loss", quality_key: str = "eval/fid",
                             from_step: int = 0) -> np.ndarray:
  """Per seed, the correlation over eval points (those after `from_step`) of
  -`loss_key` (for a WGAN critic the Wasserstein estimate) with `quality_key`,
  using the train row logged at each eval step (the mean loss since the
  previous log). NaN with fewer than `min_points` points.
  """
  loss_steps, loss = series(runs, loss_key)
  eval_steps, quality = series(runs, quality_key)
  common, li, ei = np.intersect1d(loss_steps, eval_steps, return_indices=True)
  late = common > from_step
  li, ei = li[late], ei[late]
  out = np.full(len(quality), np.nan)
  if len(li) < min_points:
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


# --- significance tests and verdicts ---------------------------------------------------------

ALPHA = 0.05  # family-wise error rate of the report's verdicts (Holm over every tested claim)
SEED_CLAIM = "seed's claim"
LITERATURE = "literature (no seed)"


def extrapolation(why: str) -> str:
  """The origin of a claim tested beyond the seed's own setting: 'extrapolation (why)'."""
  return f"extrapolation ({why})"


@dataclasses.dataclass
class Test:
  """One claim's significance test, one-sided in the claim's direction.

  Attributes:
    method: e.g. "Welch t", "Fisher exact", "one-sample t".
    statistic: the test statistic (t; NaN where the test has none).
    df: degrees of freedom (Welch-Satterthwaite; NaN where none).
    p: one-sided p-value of the claim's direction.
    p_against: one-sided p-value of the opposite direction.
    estimate: the effect (e.g. mean(A) - mean(B)).
    ci: its two-sided 95% confidence interval ((nan, nan) where none).
    effect: what `estimate` is, in words.
    n: the sample sizes (seeds) of the groups.
  """
  method: str
  statistic: float
  df: float
  p: float
  p_against: float
  estimate: float
  ci: tuple[float, float]
  effect: str
  n: tuple[int, ...]


def _finite(values) -> np.ndarray:
  values = np.asarray(values, np.float64)
  return values[np.isfinite(values)]


def welch(a, b, *, names: tuple[str, str] = ("A", "B")) -> Test:
  """Welch's unequal-variance t-test of H1: mean(a) > mean(b) (p) and of H1:
  mean(a) < mean(b) (p_against), on the finite values; 95% CI of the mean
  difference with the Welch-Satterthwaite degrees of freedom. Fewer than 2
  values on a side give p = NaN. Both sides without spread: p = 0 if the means
  differ in the tested direction, else 1 (the limit of the t-test)."""
  a, b = _finite(a), _finite(b)
  effect = f"mean({names[0]}) - mean({names[1]})"
  n = (len(a), len(b))
  if min(n) < 2:
    return Test("Welch t", math.nan, math.nan, math.nan, math.nan, math.nan,
                (math.nan, math.nan), effect, n)
  diff = float(a.mean() - b.mean())
  va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
  se = math.sqrt(va + vb)
  if se == 0:
    p = 0.0 if diff > 0 else 1.0
    p_against = 0.0 if diff < 0 else 1.0
    return Test("Welch t", math.copysign(math.inf, diff) if diff else 0.0, math.nan, p,
                p_against, diff, (diff, diff), effect, n)
  df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
  t = diff / se
  half = float(scipy.stats.t.ppf(0.975, df)) * se
  return Test("Welch t", t, df, float(scipy.stats.t.sf(t, df)), float(scipy.stats.t.cdf(t, df)),
              diff, (diff - half, diff + half), effect, n)


def better(a, b, *, higher_is_better: bool, names: tuple[str, str] = ("A", "B")) -> Test:
  """Welch's test of "A is better than B" (higher or lower mean, as the metric
  says); the estimate stays mean(A) - mean(B) either way."""
  if higher_is_better:
    return welch(a, b, names=names)
  test = welch(b, a, names=names[::-1])
  return dataclasses.replace(
      test, statistic=-test.statistic, estimate=-test.estimate,
      ci=(-test.ci[1], -test.ci[0]), effect=f"mean({names[0]}) - mean({names[1]})")


def one_sample(values, level: float, *, name: str = "A", below: bool = False) -> Test:
  """One-sample t-test of H1: mean > `level` (p) and mean < `level` (p_against);
  `below` swaps the two (the claim is mean < `level`)."""
  v = _finite(values)
  effect = f"mean({name}) - {level:.3g}"
  if len(v) < 2:
    return Test("one-sample t", math.nan, math.nan, math.nan, math.nan, math.nan,
                (math.nan, math.nan), effect, (len(v),))
  diff, se, df = float(v.mean() - level), v.std(ddof=1) / math.sqrt(len(v)), len(v) - 1
  if se == 0:
    t, upper, lower, half = (math.copysign(math.inf, diff) if diff else 0.0,
                             0.0 if diff > 0 else 1.0, 0.0 if diff < 0 else 1.0, 0.0)
  else:
    t, half = diff / se, float(scipy.stats.t.ppf(0.975, df)) * se
    upper, lower = float(scipy.stats.t.sf(t, df)), float(scipy.stats.t.cdf(t, df))
  p, p_against = (lower, upper) if below else (upper, lower)
  return Test("one-sample t", t, df, p, p_against, diff, (diff - half, diff + half), effect,
              (len(v),))


def fisher(hits_a: int, n_a: int, hits_b: int, n_b: int, *,
           names: tuple[str, str] = ("A", "B")) -> Test:
  """Fisher's exact test of H1: the rate of A exceeds B's (p) and of the opposite
  (p_against); the estimate is the difference of the two rates (no CI)."""
  effect = f"rate({names[0]}) - rate({names[1]})"
  if not n_a or not n_b:
    return Test("Fisher exact", math.nan, math.nan, math.nan, math.nan, math.nan,
                (math.nan, math.nan), effect, (n_a, n_b))
  table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
  p = float(scipy.stats.fisher_exact(table, alternative="greater")[1])
  p_against = float(scipy.stats.fisher_exact(table, alternative="less")[1])
  return Test("Fisher exact", math.nan, math.nan, p, p_against, hits_a / n_a - hits_b / n_b,
              (math.nan, math.nan), effect, (n_a, n_b))


def all_of(tests: Sequence[Test]) -> Test:
  """A claim that holds only if every one of `tests` does (A beats each of B, C,
  ...): the intersection-union test, p = the largest p (the weakest comparison,
  whose statistic and CI are kept); it fails if any one goes the other way,
  p_against = the smallest p_against times the number of tests (Bonferroni)."""
  if not tests:
    raise ValueError("all_of needs at least one test")
  if any(math.isnan(t.p) for t in tests):
    weakest = next(t for t in tests if math.isnan(t.p))
  else:
    weakest = max(tests, key=lambda t: t.p)
  against = min((t.p_against for t in tests), default=math.nan)
  method = weakest.method + ("" if len(tests) == 1 else
                             f", weakest of {len(tests)} (intersection-union)")
  return dataclasses.replace(weakest, method=method,
                             p_against=min(1.0, against * len(tests)))


def holm(p_values: Sequence[float]) -> np.ndarray:
  """Holm's step-down adjusted p-values (NaN entries stay NaN and do not count):
  the i-th smallest of m becomes max_{j <= i} min(1, (m - j + 1) p_(j))."""
  p = np.asarray(p_values, np.float64)
  out = np.full(p.shape, np.nan)
  idx = np.flatnonzero(np.isfinite(p))
  order = idx[np.argsort(p[idx], kind="stable")]
  m, running = len(order), 0.0
  for rank, i in enumerate(order):
    running = max(running, min(1.0, (m - rank) * p[i]))
    out[i] = running
  return out


@dataclasses.dataclass
class Claim:
  """A claim of the report and its evidence.

  Attributes:
    text: the claim.
    origin: SEED_CLAIM, `extrapolation(why)` or LITERATURE.
    reason: the numbers behind it, in words.
    test: its significance test; None for a claim decided exactly (a
      deterministic analysis), whose verdict is `exact_verdict`.
    exact_verdict: the verdict of an exact claim.
    verdict, p_holm, p_against_holm: set by `judge`.
  """
  text: str
  origin: str
  reason: str
  test: Test | None = None
  exact_verdict: str = ""
  verdict: str = ""
  p_holm: float = math.nan
  p_against_holm: float = math.nan


def judge(claims: Sequence[Claim], *, alpha: float = ALPHA) -> None:
  """Sets each claim's verdict in place. Holm's correction runs over one family
  holding both directions of every tested claim (2 hypotheses per claim), so
  the chance of any wrong "agrees" or "disagrees" in the report is at most
  `alpha`: a claim agrees when its adjusted p < alpha, disagrees when the
  opposite direction's adjusted p < alpha, and is inconclusive at this budget
  otherwise (also when a side has fewer than 2 seeds). Exact claims keep
  their own verdict."""
  tested = [c for c in claims if c.test is not None]
  adjusted = holm([c.test.p for c in tested] + [c.test.p_against for c in tested])
  for i, claim in enumerate(tested):
    claim.p_holm, claim.p_against_holm = adjusted[i], adjusted[len(tested) + i]
    if claim.p_holm < alpha:
      claim.verdict = AGREES
    elif claim.p_against_holm < alpha:
      claim.verdict = DISAGREES
    else:
      claim.verdict = INCONCLUSIVE
  for claim in claims:
    if claim.test is None:
      claim.verdict = claim.exact_verdict


def _p_text(p: float) -> str:
  return "–" if not np.isfinite(p) else ("< 1e-4" if p < 1e-4 else f"{p:.4f}")


def test_cells(claim: Claim) -> list[str]:
  """[test, statistic, 95% CI, n, p, p Holm] of a claim, for the claims table."""
  t = claim.test
  if t is None:
    return ["exact (deterministic analysis)", "–", "–", "–", "–", "–"]
  stat = "–" if not np.isfinite(t.statistic) and not np.isinf(t.statistic) else (
      f"t = {t.statistic:+.2f}" + (f" (df {t.df:.1f})" if np.isfinite(t.df) else ""))
  if np.isfinite(t.estimate):
    ci = f"{t.effect} = {t.estimate:+.3g}" + (
        f" [{t.ci[0]:+.3g}, {t.ci[1]:+.3g}]" if np.isfinite(t.ci[0]) else "")
  else:
    ci = "–"
  p_holm = _p_text(claim.p_holm)
  if claim.verdict == DISAGREES:
    p_holm += f" (against: {_p_text(claim.p_against_holm)})"
  return [t.method, stat, ci, " vs ".join(map(str, t.n)), _p_text(t.p), p_holm]


def pair_claim(text: str, origin: str, a, b, *, higher_is_better: bool,
               names: tuple[str, str], digits: int = 1) -> Claim:
  """"A is better than B" by Welch's test, with the two cells' mean ± std."""
  return Claim(text, origin, f"{names[0]} {fmt(a, digits=digits)} vs {names[1]} "
               f"{fmt(b, digits=digits)}",
               better(a, b, higher_is_better=higher_is_better, names=names))


def extreme_claim(text: str, origin: str, groups: dict[str, np.ndarray],
                  targets: Sequence[str], *, best: bool, higher_is_better: bool,
                  digits: int = 1) -> Claim:
  """"The `targets` are the best (or worst) of `groups`": every target against
  every other group, combined by `all_of`."""
  others = [g for g in groups if g not in targets]
  if not others:
    raise ValueError("extreme_claim needs groups besides the targets")
  want_higher = higher_is_better == best
  tests = [better(groups[t], groups[o], higher_is_better=want_higher, names=(t, o))
           for t in targets for o in others]
  reason = ", ".join(f"{g} {fmt(v, digits=digits)}" for g, v in groups.items())
  return Claim(text, origin, reason, all_of(tests))


def fisher_z(rhos) -> np.ndarray:
  """arctanh of correlations (clipped to +-0.999): per-seed correlations on a
  scale where their mean and a t-test are sound."""
  return np.arctanh(np.clip(np.asarray(rhos, np.float64), -0.999, 0.999))


def tracking_claim(text: str, origin: str, rhos: dict[str, np.ndarray], *,
                   tracking: Sequence[str], not_tracking: Sequence[str]) -> Claim:
  """"The losses of `tracking` follow sample quality more closely than those of
  `not_tracking`": Welch's test on the per-seed Fisher-z correlations of each
  pair, combined by `all_of`."""
  tests = [welch(fisher_z(rhos[a]), fisher_z(rhos[b]), names=(f"z {a}", f"z {b}"))
           for a in tracking for b in not_tracking]
  reason = "mean correlations " + ", ".join(
      f"{n} {np.nanmean(rhos[n]):+.2f}" if np.isfinite(rhos[n]).any() else f"{n} –"
      for n in (*tracking, *not_tracking))
  return Claim(text, origin, reason, all_of(tests))


def exploded_seeds(runs: Sequence[Run], *, logit_threshold: float) -> tuple[int, int, int]:
  """(exploded seeds, seeds with the evidence, seeds) of a cell: a seed exploded
  when a non-finite loss stopped it or its largest |D logit| (`d/max_abs_logit`)
  passed `logit_threshold`; a seed of a run that logged no `d/max_abs_logit`
  and did not diverge has no evidence either way."""
  exploded = evidence = total = 0
  for run in runs:
    total += len(run.seeds)
    if run.status == "diverged":
      exploded += len(run.seeds)
      evidence += len(run.seeds)
      continue
    if run.status != "done":
      continue
    _, peak = series([run], "d/max_abs_logit")
    for row in peak:
      if (~np.isnan(row)).any():
        evidence += 1
        exploded += int(np.nanmax(row) > logit_threshold)
  return exploded, evidence, total


def explosion_claim(text: str, origin: str, cold: Sequence[Run], warm: Sequence[Run], *,
                    logit_threshold: float) -> Claim:
  """"Training explodes without the warm start and not with it": Fisher's exact
  test that the cold cell's share of exploded seeds (`exploded_seeds`) exceeds
  the warm cell's (p). Against the claim (p_against): the one-sided binomial
  test that cold seeds explode less often than half the time, P(<= c of n | 1/2),
  since "explodes" means at least often; with no explosion in either cell
  Fisher's test alone could never speak against the claim."""
  (c, cn, ct), (w, wn, wt) = (exploded_seeds(r, logit_threshold=logit_threshold)
                              for r in (cold, warm))
  reason = (f"exploded (non-finite loss or max |D logit| > {logit_threshold:g}): without the "
            f"warm start {c}/{cn} seeds, with it {w}/{wn}"
            + (f" ({ct - cn + wt - wn} seeds without the logged logits left out)"
               if cn < ct or wn < wt else ""))
  test = fisher(c, cn, w, wn, names=("cold", "warm"))
  if cn:
    test = dataclasses.replace(
        test, method="Fisher exact; against: binomial (cold rate < 1/2)",
        p_against=float(scipy.stats.binom.cdf(c, cn, 0.5)))
  return Claim(text, origin, reason, test)


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
