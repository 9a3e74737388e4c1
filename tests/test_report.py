"""The report (tools/report.py): aggregation over seeds, claim rules,
divergence bookkeeping, reuse of finished runs, and a smoke run of every section."""

import dataclasses
import json
import math
import os

import jax
import ml_collections
import numpy as np
import pytest

from tools import report, report_lib as lib, report_sections
from tools.report_lib import Run
from gan_jax import guards, train, viz


def _vmapped(name="a", fids=((30.0, 20.0, 10.0), (40.0, 30.0, 20.0)), steps=(10, 20, 30)):
  """A fabricated 2-seed vmapped run: per-seed eval/fid and d/loss = -fid."""
  rows = []
  for j, step in enumerate(steps):
    per_seed = [f[j] for f in fids]
    rows.append({"step": step, "d/loss": -np.mean(per_seed),
                 **{f"d/loss/seed_{i}": -v for i, v in enumerate(per_seed)}})
    rows.append({"step": step, "eval/fid": np.mean(per_seed), "floor/fid": 2.0,
                 **{f"eval/fid/seed_{i}": v for i, v in enumerate(per_seed)},
                 **{f"floor/fid/seed_{i}": 2.0 for i in range(len(fids))}, "extractor": "x"})
  return Run(name, "/nonexistent", tuple(range(len(fids))), steps[-1], rows=rows)


def _single(seed, fids, steps=(10, 20, 30), status="done"):
  rows = [{"step": s, "eval/fid": v, "floor/fid": 2.5} for s, v in zip(steps, fids)]
  return Run("a", "/nonexistent", (seed,), steps[-1], rows=rows, status=status)


def test_series_stacks_vmapped_and_single_seed_runs():
  steps, values = lib.series([_vmapped(), _single(2, (5.0, 4.0, 3.0))], "eval/fid")
  np.testing.assert_array_equal(steps, [10, 20, 30])
  np.testing.assert_array_equal(values, [[30, 20, 10], [40, 30, 20], [5, 4, 3]])
  assert lib.seed_values({"eval/fid": 7.0}, "eval/fid") == [7.0]
  assert lib.seed_values({"d/loss": 1.0}, "eval/fid") == []


def test_final_values_and_summaries_skip_unfinished_runs():
  diverged = _single(3, (9.0, 8.0), steps=(10, 20), status="diverged")
  diverged.num_steps = 30
  runs = [_vmapped(), _single(2, (5.0, 4.0, 3.0)), diverged]
  final = lib.final_values(runs, "eval/fid")
  np.testing.assert_array_equal(final[:3], [10, 20, 3])
  assert math.isnan(final[3])
  assert lib.fmt(final, digits=1) == f"11.0 ± {np.std([10, 20, 3], ddof=1):.1f} [3/4 seeds]"
  np.testing.assert_allclose(lib.curve_summary(runs[:1], "eval/fid", reduce="mean"), [20, 30])
  np.testing.assert_allclose(lib.curve_summary(runs[:1], "eval/fid", reduce="min"), [10, 20])
  np.testing.assert_allclose(lib.curve_summary(runs, "eval/fid", reduce="mean", last=2),
                             [15, 25, 3.5, 8.5])  # the diverged seed: its last 2 values
  floors = report_sections.floor_values([runs[:2]], "fid")
  np.testing.assert_array_equal(floors, [2.0, 2.0, 2.5])


def test_correlations():
  x = np.arange(6.0)
  assert lib.correlation(x, np.exp(x), method="spearman") == pytest.approx(1.0)
  assert lib.correlation(x, np.exp(x), method="pearson") < 0.95
  assert lib.correlation(x, -x**3, method="spearman") == pytest.approx(-1.0)
  assert math.isnan(lib.correlation(x[:2], x[:2], method="pearson"))
  assert math.isnan(lib.correlation(x, np.ones(6), method="spearman"))
  with pytest.raises(ValueError, match="kendall"):
    lib.correlation(x, x, method="kendall")
  # Ties share the mean rank: Spearman of [0, 0, 1] with [1, 2, 3] is Pearson of
  # the ranks [0.5, 0.5, 2] and [0, 1, 2].
  expected = np.corrcoef([0.5, 0.5, 2], [0, 1, 2])[0, 1]
  assert lib.correlation(np.array([0.0, 0, 1]), np.array([1.0, 2, 3]),
                         method="spearman") == pytest.approx(expected)


def test_loss_quality_correlation_per_seed():
  run = _vmapped(fids=((50.0, 40, 45, 20, 10), (60.0, 30, 35, 25, 5)), steps=(1, 2, 3, 4, 5))
  # -d/loss equals FID by construction: a perfect positive correlation per seed.
  np.testing.assert_allclose(lib.loss_quality_correlation([run], method="spearman"), [1, 1])
  assert np.isnan(lib.loss_quality_correlation([run], method="spearman", min_points=6)).all()
  flat = _vmapped(fids=((50.0, 40, 45, 20, 10),), steps=(1, 2, 3, 4, 5))
  for row in flat.rows:
    if "d/loss" in row:
      row["d/loss"] = row["d/loss/seed_0"] = 1.0
  assert np.isnan(lib.loss_quality_correlation([flat], method="pearson")).all()


def test_welch_matches_scipy_one_sided_with_its_confidence_interval():
  import scipy.stats  # pylint: disable=g-import-not-at-top
  a, b = np.array([31.0, 35.5, 29.8, 40.1, 33.3]), np.array([44.0, 39.2, 51.7, 47.5, np.nan])
  test = lib.welch(a, b, names=("a", "b"))
  want = scipy.stats.ttest_ind(a, b[:4], equal_var=False, alternative="greater")
  assert test.n == (5, 4)
  np.testing.assert_allclose([test.statistic, test.p], [want.statistic, want.pvalue], rtol=1e-12)
  less = scipy.stats.ttest_ind(a, b[:4], equal_var=False, alternative="less")
  np.testing.assert_allclose(test.p_against, less.pvalue, rtol=1e-12)
  ci = scipy.stats.ttest_ind(a, b[:4], equal_var=False).confidence_interval(0.95)
  np.testing.assert_allclose(test.ci, (ci.low, ci.high), rtol=1e-10)
  np.testing.assert_allclose(test.estimate, a.mean() - b[:4].mean())
  assert test.p > 0.99 and test.p_against < 0.01  # a is lower: "a > b" fails, "a < b" holds
  # "lower is better": A better than B is B's mean above A's; the estimate stays A - B.
  lower = lib.better(a, b, higher_is_better=False, names=("a", "b"))
  np.testing.assert_allclose([lower.p, lower.estimate], [less.pvalue, test.estimate])
  assert lower.ci[0] < lower.estimate < lower.ci[1] < 0
  assert np.isnan(lib.welch(a[:1], b).p)  # one seed decides nothing
  tied = lib.welch(np.full(3, 2.0), np.full(3, 1.0))  # no spread on either side
  assert (tied.p, tied.p_against) == (0.0, 1.0)


def test_one_sample_and_fisher_against_scipy_and_a_hand_value():
  import scipy.stats  # pylint: disable=g-import-not-at-top
  v = np.array([0.81, 0.84, 0.77, 0.86])
  test = lib.one_sample(v, 0.5)
  want = scipy.stats.ttest_1samp(v, 0.5, alternative="greater")
  np.testing.assert_allclose([test.statistic, test.p], [want.statistic, want.pvalue], rtol=1e-12)
  ci = scipy.stats.ttest_1samp(v, 0.5).confidence_interval(0.95)
  np.testing.assert_allclose(test.ci, (ci.low - 0.5, ci.high - 0.5), rtol=1e-10)
  below = lib.one_sample(v, 0.9, below=True)  # the claim "mean < 0.9"
  want = scipy.stats.ttest_1samp(v, 0.9, alternative="less")
  np.testing.assert_allclose([below.p, below.p_against], [want.pvalue, 1 - want.pvalue])
  # 5 of 5 cold seeds exploded, 0 of 5 warm: p = 1 / C(10, 5) = 1/252 (hypergeometric).
  fisher = lib.fisher(5, 5, 0, 5)
  np.testing.assert_allclose([fisher.p, fisher.p_against, fisher.estimate], [1 / 252, 1.0, 1.0])
  assert lib.fisher(0, 5, 0, 5).p == 1.0


def test_holm_on_a_hand_example_and_intersection_union():
  # sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1, raised to 0.06)
  adjusted = lib.holm([0.01, 0.04, 0.03, 0.005, np.nan])
  np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
  assert np.isnan(adjusted[4])
  np.testing.assert_allclose(lib.holm([0.2, 0.01]), [0.2, 0.02])  # the largest keeps its p
  np.testing.assert_allclose(lib.holm([0.5, 0.9]), [1.0, 1.0])  # monotone: never below a smaller one
  t = lambda p, q: lib.Test("Welch t", 1.0, 4.0, p, q, 1.0, (0.0, 2.0), "x", (3, 3))
  combined = lib.all_of([t(0.01, 0.99), t(0.03, 0.2), t(0.002, 0.5)])
  assert combined.p == 0.03 and combined.p_against == pytest.approx(0.6)
  assert "weakest of 3" in combined.method


def test_judge_applies_holm_over_both_directions_of_every_claim():
  def claim(p, against):
    return lib.Claim("c", lib.SEED_CLAIM, "", lib.Test("Welch t", 1.0, 4.0, p, against, 1.0,
                                                       (0.0, 2.0), "x", (5, 5)))
  claims = [claim(0.001, 0.999), claim(0.999, 0.002), claim(0.02, 0.98),
            lib.Claim("exact", lib.SEED_CLAIM, "", exact_verdict=lib.AGREES)]
  lib.judge(claims)
  # 6 hypotheses: 0.001 x 6 = 0.006, 0.002 x 5 = 0.01, 0.02 x 4 = 0.08 (raw 0.02 < 0.05 alone)
  assert [c.verdict for c in claims] == [lib.AGREES, lib.DISAGREES, lib.INCONCLUSIVE, lib.AGREES]
  np.testing.assert_allclose([c.p_holm for c in claims[:3]], [0.006, 1.0, 0.08])
  assert lib.test_cells(claims[3])[0].startswith("exact")
  cells = lib.test_cells(claims[1])
  assert cells[4] == "0.9990" and "against: 0.0100" in cells[5]


def test_extreme_and_tracking_claims():
  low, high = np.array([1.0, 1.1, 0.9]), np.array([5.0, 5.1, 4.9])
  groups = {"a": high, "b": low, "c": low + 0.05}
  best = lib.extreme_claim("a best", lib.SEED_CLAIM, groups, ["a"], best=True,
                           higher_is_better=True)
  assert best.test.p < 1e-3 and "weakest of 2" in best.test.method
  worst = lib.extreme_claim("b, c worst", lib.SEED_CLAIM, groups, ["b", "c"], best=False,
                            higher_is_better=True)
  assert worst.test.p < 1e-3 and worst.test.n == (3, 3)
  wrong = lib.extreme_claim("b best", lib.SEED_CLAIM, groups, ["b"], best=True,
                            higher_is_better=True)
  assert wrong.test.p > 0.5 and wrong.test.p_against < 0.01
  # Lower is better: the lowest values are the best.
  assert lib.extreme_claim("b best", lib.SEED_CLAIM, {"a": high, "b": low}, ["b"], best=True,
                           higher_is_better=False).test.p < 1e-3
  rhos = {"wgan": np.array([0.9, 0.8, 0.85]), "wgan_gp": np.array([0.7, 0.6, 0.75]),
          "dcgan": np.array([0.1, -0.2, 0.0])}
  track = lib.tracking_claim("t", lib.SEED_CLAIM, rhos, tracking=("wgan", "wgan_gp"),
                             not_tracking=("dcgan",))
  z = lambda r: np.arctanh(r)
  want = lib.welch(z(rhos["wgan_gp"]), z(rhos["dcgan"]))  # the weaker of the two pairs
  np.testing.assert_allclose(track.test.p, want.p)


def _peak_run(seed, peaks, status="done"):
  rows = [{"step": 10 * (i + 1), "d/max_abs_logit": v} for i, v in enumerate(peaks)]
  return Run("kl", "", (seed,), 10 * len(peaks), rows=rows, status=status)


def test_explosion_is_a_nonfinite_loss_or_a_logit_past_the_threshold():
  cold = [_peak_run(0, [5.0, 2e4]), _peak_run(1, [3.0, np.inf]), _peak_run(2, [3.0, 4.0]),
          Run("kl", "", (3,), 20, status="diverged", stop_step=7),
          Run("kl", "", (4,), 20, rows=[{"step": 10, "eval/fid": 3.0}])]  # logged no logits
  assert lib.exploded_seeds(cold, logit_threshold=1e4) == (3, 4, 5)
  assert lib.exploded_seeds(cold, logit_threshold=1e5) == (2, 4, 5)
  warm = [_peak_run(s, [5.0, 9.0]) for s in range(4)]
  claim = lib.explosion_claim("kl", lib.SEED_CLAIM, cold, warm, logit_threshold=1e4)
  assert "without the warm start 3/4 seeds, with it 0/4" in claim.reason
  assert "1 seeds without the logged logits left out" in claim.reason
  np.testing.assert_allclose(claim.test.p, lib.fisher(3, 4, 0, 4).p)
  np.testing.assert_allclose(claim.test.p_against, 15 / 16)  # P(<= 3 of 4 | 1/2)
  none = lib.explosion_claim("kl", lib.SEED_CLAIM, warm + warm[:1], warm, logit_threshold=1e4)
  np.testing.assert_allclose([none.test.p, none.test.p_against], [1.0, 1 / 32])  # 0 of 5
  assert lib.status_text(cold[3:4] + warm) == "4/5 finished; seed 3 diverged at step 7"


def test_markdown_table_and_step_flags():
  assert lib.markdown_table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n"
  with pytest.raises(ValueError, match="cells"):
    lib.markdown_table(["a", "b"], [["1"]])
  assert report.parse_steps(["dcgan=300", "50"]) == {"dcgan": 300, "*": 50}
  assert report.steps_for({"dcgan": 300, "*": 50}, "wgan") == 50
  with pytest.raises(ValueError, match="wgan"):
    report.steps_for({"dcgan": 300}, "wgan")


def test_divergence_is_recorded_and_not_retrained(tmp_path, monkeypatch):
  # The message of the loop's own non-finite check, parsed back to its step.
  with pytest.raises(train.NonFiniteLossError) as info:
    guards.check_metrics([{"d/loss": 1.0}, {"d/loss": float("nan")}], first_step=16,
                         last_good="none yet")
  assert lib.nonfinite_step(str(info.value)) == 17
  calls = []

  def fake_train(config, workdir):
    calls.append(workdir)
    raise info.value

  monkeypatch.setattr(train, "train_and_evaluate", fake_train)
  config = ml_collections.ConfigDict({"num_critic_steps": 1, "dataset": {"batch_size": 8},
                                      "warm_start": {"workdir": ""}})
  run = report.execute(Run("kl", str(tmp_path), (0,), 40), config)
  assert (run.status, run.stop_step, run.reused) == ("diverged", 17, False)
  again = report.execute(Run("kl", str(tmp_path), (0,), 40), config)
  assert (again.status, again.stop_step, again.reused) == ("diverged", 17, True)
  assert len(calls) == 1


def _section_run(tmp_path, algo, *, score, wasserstein, seeds=3, evals=6):
  """A finished fabricated vmapped run: FID falls 10 * evals -> 10 over `evals`
  evaluations, 10 steps apart; -d/loss equals FID for a Wasserstein critic, and
  zigzags for DCGAN."""
  workdir = tmp_path / algo
  (workdir / "samples").mkdir(parents=True)
  (workdir / "config.json").write_text(f'{{"num_critic_steps": {5 if wasserstein else 1}}}')
  for step in (20, 10 * evals):
    viz.save_image_grid(str(workdir / "samples" / f"step_{step:07d}.png"),
                        np.linspace(-1, 1, 4 * 28 * 28).reshape(4, 28, 28, 1))
  zigzag = [1.0, 3.0, 5.0, 6.0, 4.0, 2.0] * (evals // 6 + 1)
  rows = []
  for j, step in enumerate(range(10, 10 * evals + 10, 10)):
    fid = [10.0 * (evals - j) + s for s in range(seeds)]
    loss = [-f if wasserstein else -zigzag[j] for f in fid]
    per = lambda key, vals: {key: float(np.mean(vals)),
                             **{f"{key}/seed_{i}": v for i, v in enumerate(vals)}}
    rows.append({"step": step, **per("d/loss", loss)})
    rows.append({"step": step, **per("eval/fid", fid),
                 **per("eval/score", [score + 0.01 * s for s in range(seeds)]),
                 **per("eval/precision", [0.5] * seeds), **per("eval/recall", [0.1] * seeds),
                 **{f"floor/{k}": 1.0 for k in ("fid", "score", "precision", "recall")}})
  return Run(f"mnist_5k/{algo}", str(workdir), tuple(range(seeds)), 10 * evals, rows=rows)


@pytest.mark.slow
def test_seed000_section_tables_figures_and_claims(tmp_path):
  kw = dict(evals=12)  # the loss-quality claims read the second half: 6 evaluations
  cells = {("mnist_5k", "dcgan"): [_section_run(tmp_path, "dcgan", score=5.0, wasserstein=False,
                                                **kw)],
           ("mnist_5k", "wgan"): [_section_run(tmp_path, "wgan", score=3.0, wasserstein=True,
                                               **kw)],
           ("mnist_5k", "wgan_gp"): [_section_run(tmp_path, "wgan_gp", score=7.0,
                                                  wasserstein=True, **kw)]}
  folder = tmp_path / "seed000"
  section = report_sections.seed000_section(None, str(folder), cells)
  lib.judge(section.claims)
  verdicts = [c.verdict for c in section.claims]
  # WGAN-GP highest mean score, WGAN lowest, DCGAN not the highest max, tracking.
  assert verdicts == [lib.AGREES, lib.AGREES, lib.DISAGREES, lib.AGREES], section.claims
  assert "Table 2: 7.40" in section.claims[2].text
  assert all(c.origin.startswith(lib.SEED_CLAIM) for c in section.claims)
  assert "| wgan_gp | 120 | 5 | 3 | 7.01 ± 0.01 | 7.01 ± 0.01 | 7.01 ± 0.01 | 11.0 ± 1.0 |" in (
      section.markdown), section.markdown
  assert "| real-vs-real floor |" in section.markdown
  assert "](curves_mnist_5k.png)" in (folder / "seed000.md").read_text()
  for png in ("curves_mnist_5k.png", "loss_vs_fid_mnist_5k.png", "samples_mnist_5k.png"):
    assert os.path.getsize(folder / png) > 1000, png
  # Swap the scores of WGAN and WGAN-GP: both score claims turn.
  cells[("mnist_5k", "wgan")] = [_section_run(tmp_path / "b", "wgan", score=9.0,
                                              wasserstein=True, **kw)]
  section = report_sections.seed000_section(None, str(tmp_path / "b"), cells)
  lib.judge(section.claims)
  assert [c.verdict for c in section.claims][:2] == [lib.DISAGREES, lib.DISAGREES]


def test_best_value_and_its_step(tmp_path):
  run = _section_run(tmp_path, "vanilla", score=5.0, wasserstein=False)
  assert report_sections.best_text([run], "eval/fid") == "11.0 ± 1.0 (60)"
  # FID rising after step 30: the best is at 30, not at the end.
  for row in run.rows:
    if "eval/fid" in row and row["step"] > 30:
      for key in [k for k in row if k.startswith("eval/fid")]:
        row[key] += 100.0
  assert report_sections.best_text([run], "eval/fid") == "41.0 ± 1.0 (30)"
  assert report_sections.best_text([run], "eval/missing") == "–"


@pytest.mark.slow
def test_smoke_report_trains_reuses_and_writes_readme(tmp_path):
  opts = report.Options(out=str(tmp_path), sections=("dirac", "seed004"), seeds=2,
                        seed004_algos=("fgan_kl_warm",), command="test").smoke_version()
  sections = report.make_report(opts)
  assert [s.name for s in sections] == ["dirac", "seed004"]
  runs = [r for _, r in sections[1].runs]
  # The warm-started cell needs one run per seed, each from that seed's JS warm-up run.
  assert [(r.name, r.seeds) for r in runs] == [("fgan_js_warmup", (0,)), ("fgan_js_warmup", (1,)),
                                               ("fgan_kl_warm", (0,)), ("fgan_kl_warm", (1,))]
  assert all(r.status == "done" and not r.reused for r in runs), [r.status for r in runs]
  final_fid = lib.final_values(runs[2:], "eval/fid")
  assert final_fid.shape == (2,) and np.isfinite(final_fid).all()
  readme = (tmp_path / "README.md").read_text()
  for text in ("## Seed 004", "## Mescheder", "Verdicts (deterministic", "real-vs-real floor",
               "Compute: ", "| fgan_kl_warm | fgan_kl | JS warm-up (4 steps) | 0.0001 after /100, /10 for 1 updates each | 4 |",
               "](seed004/curves.png)",
               "| claim | origin | verdict | test | statistic | effect [95% CI] | n (seeds) | p (one-",
               "2-D runs: 4 G steps (batch 8); 2 seeds per cell | exact local analysis",
               "| ring | r1 | ", "launch.py --config=experiments/toy_modes.py:r1,ring"):
    assert text in readme, text
  # The 2-D follow-up trained through train_and_evaluate: its runs and their eval rows.
  modes_runs = [r for _, r in sections[0].runs]
  assert [r.name for r in modes_runs] == ["ring/none", "ring/r1", "ring/r1_gamma0.01"]
  assert all(r.status == "done" and r.seeds == (0, 1) for r in modes_runs)
  assert all(any("eval/modes_covered_loose" in row for row in r.rows) for r in modes_runs)
  assert any("r1 covers more modes" in c.text for c in sections[0].claims)
  exact = [c for c in sections[0].claims if c.test is None]
  assert ["the general case" in exact[0].text, "the a.c. case" in exact[1].text] == [True, True]
  assert all(c.verdict in (lib.AGREES, lib.DISAGREES, lib.INCONCLUSIVE)
             for s in sections for c in s.claims)
  for png in ("seed004/fid.png", "seed004/curves.png", "seed004/samples.png",
              "dirac/dynamics/dirac_gan.png"):
    assert os.path.getsize(tmp_path / png) > 1000, png
  assert "**Section seed000 is not in this report yet**: 0 of its 5 runs" in readme
  assert "--sections=seed000` trains the rest" in readme
  # A later invocation runs one section: the README still holds the other finished one.
  again = report.make_report(dataclasses.replace(opts, sections=("seed004",)))
  assert [s.name for s in again] == ["dirac", "seed004"]
  assert all(r.reused for _, r in again[0].runs + again[1].runs)
  readme = (tmp_path / "README.md").read_text()
  assert "Sections dirac come from runs an earlier invocation finished" in readme
  assert "## Mescheder" in readme and "| ring | r1 | " in readme
  np.testing.assert_array_equal(lib.final_values([r for _, r in again[1].runs][2:], "eval/fid"),
                                final_fid)


def test_budgets_and_budget_text(tmp_path):
  paper = report.Options(out="x", **report.budget_options("paper"))
  cpu = report.Options(out="x")
  assert paper.seed000_steps == {"*": 15000} and paper.vmap_seeds and not cpu.vmap_seeds
  # Seed 004's 150 epochs of mnist_5k (4,000 digits, batch 64) in both budgets.
  assert cpu.seed004_steps == paper.seed004_steps == {"*": 9375, "wgan_wc": 1875,
                                                      "wgan_gp": 1875}
  assert report.budget_options("paper", seed000_steps={"*": 7})["seed000_steps"] == {"*": 7}
  with pytest.raises(ValueError, match="cpu, paper"):
    report.budget_options("gpu")
  for name, k in (("vanilla", 1), ("wgan_gp", 5)):
    (tmp_path / name).mkdir()
    (tmp_path / name / "config.json").write_text(
        f'{{"num_critic_steps": {k}, "dataset": {{"batch_size": 64}}}}')
  cells = {"vanilla": [Run("vanilla", str(tmp_path / "vanilla"), (s,), 9375) for s in range(3)],
           "wgan_gp": [Run("wgan_gp", str(tmp_path / "wgan_gp"), (0, 1, 2), 1875)]}
  assert report_sections.budget_text(cells, epoch_examples=4000) == (
      "vanilla: 9,375 G steps (batch 64; 150 epochs); wgan_gp: 1,875 G steps x 5 critic "
      "steps (batch 64; 9,375 critic batches = 150 epochs); 3 seeds per cell")
  assert report_sections.budget_text({"a": cells["vanilla"][:2]}) == (
      "9,375 G steps (batch 64); 2 seeds per cell")


def test_last_change_step_of_a_coverage_curve():
  run = Run("a", "", (0,), 40, rows=[{"step": s, "eval/modes_covered": v}
                                     for s, v in ((10, 2.0), (20, 5.0), (30, 5.0), (40, 5.0))])
  assert report_sections.last_change_step([run], "eval/modes_covered") == (20, 40)
  assert report_sections.last_change_step([run], "eval/fid") == (None, None)


def test_budget_flag_with_explicit_overrides():
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    flags.FLAGS(["report", "--budget=paper", "--seed004_steps=*=50", "--novmap_seeds"])
    opts = report.options_from_flags()
    assert (opts.budget, opts.seed000_steps, opts.seed004_steps) == ("paper", {"*": 15000},
                                                                     {"*": 50})
    assert not opts.vmap_seeds and opts.conv_impl == "xla"
    assert opts.modes_steps == 20000 and opts.seed000_eval_points == 30
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["report"])
    assert report.options_from_flags().seed000_steps == {"*": 1400}
    assert report.options_from_flags().conv_impl == ""
  finally:
    flags.FLAGS.unparse_flags()


def test_configure_sets_the_convolution_path_only_when_asked():
  from experiments import seed000_table1  # pylint: disable=g-import-not-at-top
  kw = dict(num_steps=100, eval_points=4, eval_samples=200, seed=1, num_seeds=3)
  config = report.configure(seed000_table1.get_config("dcgan"), **kw)
  assert config.model.conv_impl == "auto" and config.eval.every_steps == 25
  assert (config.seed, config.num_seeds) == (1, 3)
  assert report.configure(seed000_table1.get_config("dcgan"), conv_impl="xla",
                          **kw).model.conv_impl == "xla"


def test_config_differences_names_changed_fields_and_ignores_a_guard_added_later(tmp_path):
  from experiments import toy_ring  # pylint: disable=g-import-not-at-top
  config = toy_ring.get_config()
  recorded = json.loads(config.to_json_best_effort())
  del recorded["train"]["max_param_magnitude"]  # a run recorded before the bound existed
  (tmp_path / "config.json").write_text(json.dumps(recorded))
  assert report.config_differences(config, str(tmp_path)) == []
  config.optimizer_d.learning_rate = 0.5
  config.train.max_param_magnitude = 10.0
  assert report.config_differences(config, str(tmp_path)) == ["optimizer_d.learning_rate"]
  recorded["train"]["max_param_magnitude"] = 1e6  # recorded with the bound: a change counts
  (tmp_path / "config.json").write_text(json.dumps(recorded))
  assert report.config_differences(config, str(tmp_path)) == [
      "optimizer_d.learning_rate", "train.max_param_magnitude"]


def test_a_run_recorded_with_the_flat_model_block_is_the_same_config(tmp_path):
  """The seed-000 runs were recorded with every model field in one block and
  conv_impl 'fft'; the same run under per-family blocks and 'auto' is reused
  on CPU, and a change of the model's own field still counts."""
  from experiments import seed000_table1  # pylint: disable=g-import-not-at-top
  config = seed000_table1.get_config("dcgan")
  recorded = json.loads(config.to_json_best_effort())
  model = recorded["model"]
  recorded["model"] = {"name": "dcgan28", "latent_dim": 100, "conv_impl": "fft",
                       "dropout_rate": model["dcgan28"]["dropout_rate"],
                       **{k: v for k, v in model["mlp"].items() if k != "dropout_rate"},
                       **model["dcgan"], **model["resnet"]}
  recorded["model"]["minibatch_kernels"] = 16  # documented for dcgan28, which ignored it
  (tmp_path / "config.json").write_text(json.dumps(recorded))
  if jax.default_backend() == "cpu":
    assert report.config_differences(config, str(tmp_path)) == []
  config.model.conv_impl = "xla"
  assert report.config_differences(config, str(tmp_path)) == (
      ["model.conv_impl"] if jax.default_backend() == "cpu" else [])
  config.model.conv_impl = "fft"
  config.model.dcgan28.dropout_rate = 0.5
  assert report.config_differences(config, str(tmp_path)) == ["model.dcgan28.dropout_rate"]


def test_an_added_eval_field_is_the_same_config_only_at_its_default(tmp_path):
  from experiments import toy_ring  # pylint: disable=g-import-not-at-top
  config = toy_ring.get_config()
  recorded = json.loads(config.to_json_best_effort())
  del recorded["eval"]["extractor"], recorded["eval"]["inception_weights"]  # an older run
  (tmp_path / "config.json").write_text(json.dumps(recorded))
  assert report.config_differences(config, str(tmp_path)) == []
  config.eval.extractor = "inception"  # would score it on other features: a change
  config.eval.inception_weights = "/somewhere/pt_inception-2015-12-05-6726825d.pth"
  assert report.config_differences(config, str(tmp_path)) == [
      "eval.extractor", "eval.inception_weights"]


def test_sample_grids_are_evenly_spaced_and_end_with_the_last(tmp_path):
  from tools import report_figures  # pylint: disable=g-import-not-at-top
  (tmp_path / "samples").mkdir()
  for step in (6666, 13332, 19998, 20000):
    (tmp_path / "samples" / f"step_{step:07d}.png").write_bytes(b"")
  steps = lambda k: [s for s, _ in report_figures.sample_grids(str(tmp_path), max_grids=k)]
  assert steps(1) == [20000]  # the final samples, not the first
  assert steps(2) == [6666, 20000]
  assert steps(9) == [6666, 13332, 19998, 20000]


def _with_class_metrics(run, *, accuracy, intra):
  """`run` with per-seed eval/class_accuracy and eval/intra_fid rows (and floors)."""
  for row in run.rows:
    if "eval/fid" in row:
      for key, values in (("eval/class_accuracy", accuracy), ("eval/intra_fid", intra)):
        row.update({key: float(np.mean(values)),
                    **{f"{key}/seed_{i}": v for i, v in enumerate(values)}})
      row.update({"floor/class_accuracy": 0.9, "floor/intra_fid": 30.0})
  return run


def test_methods_section_tables_and_claims(tmp_path):
  runs = {n: _section_run(tmp_path, n, score=5.0, wasserstein=False)
          for n in ("dcgan", "dcgan_sn", "projection", "acgan", "dcgan_long", "dcgan_sn_long")}
  for name in ("dcgan_long", "dcgan_sn_long"):  # three times the steps
    runs[name].num_steps = 180
    for row in runs[name].rows:
      row["step"] *= 3
  for name, shift in (("dcgan_sn", -20.0), ("dcgan_sn_long", 20.0)):  # SN better, then worse
    for row in runs[name].rows:
      for key in [k for k in row if k.startswith("eval/fid")]:
        row[key] += shift
  _with_class_metrics(runs["projection"], accuracy=[0.80, 0.82, 0.84], intra=[50.0, 52, 54])
  _with_class_metrics(runs["acgan"], accuracy=[0.3, 0.5, 0.7], intra=[80.0, 82, 84])
  out = tmp_path / "out"
  (out / "parallel_lines").mkdir(parents=True)
  viz.save_image_grid(str(out / "parallel_lines" / "parallel_lines.png"), np.zeros((1, 8, 8, 1)))
  opts = report.Options(out=str(out))
  section = report_sections.methods_section(
      opts, str(out / "methods"), {("mnist_5k", n): [r] for n, r in runs.items()})
  lib.judge(section.claims)
  claims = {c.text.split(" (")[0] + c.text[c.text.index(", ") + 2 if "G steps" in c.text
                                           else len(c.text):]: c.verdict
            for c in section.claims}
  assert all(c.origin == lib.LITERATURE for c in section.claims)
  assert claims == {
      "Spectral normalization of D lowers DCGAN-28's final FID60 G steps)": lib.AGREES,
      "Spectral normalization of D lowers DCGAN-28's final FID180 G steps)": lib.DISAGREES,
      "projection: samples are of the requested class well above chance": lib.AGREES,
      "acgan: samples are of the requested class well above chance": lib.INCONCLUSIVE,
      "The projection discriminator has a lower intra-FID than AC-GAN": lib.AGREES}, claims
  md = section.markdown
  assert "| projection | 60 | 0.820 ± 0.020 | 52.0 ± 2.0 |" in md, md
  assert "| dcgan_sn_long | 180 | 3 | 31.0 ± 1.0 |" in md and "| acgan | 60 |" in md
  assert "| dcgan_long | 60 |" not in md  # the long cells are SN rows, not conditional ones
  assert "| real-vs-real floor | – | 0.900 ± 0.000 | 30.0 ± 0.0 |" in md
  assert "](parallel_lines/parallel_lines.png)" in md
  assert "CycleGAN translation grid: not made yet" in md
  written = (out / "methods" / "methods.md").read_text()
  assert "](../parallel_lines/parallel_lines.png)" in written and "](sn_curves_mnist_5k.png)" in (
      written)
  for png in ("sn_curves_mnist_5k.png", "sn_samples_mnist_5k.png",
              "conditional_samples_mnist_5k.png"):
    assert os.path.getsize(out / "methods" / png) > 1000, png


def test_a_warm_start_source_without_checkpoints_is_retrained_from_its_config(tmp_path,
                                                                             monkeypatch):
  from experiments import seed004_mlp  # pylint: disable=g-import-not-at-top
  source = tmp_path / "fgan_js_warmup" / "seed_0"
  source.mkdir(parents=True)
  js = seed004_mlp.get_config("fgan_js_warmup,mnist_5k,runlocal")
  (source / "config.json").write_text(js.to_json_best_effort())
  calls = []
  monkeypatch.setattr(train, "train_and_evaluate", lambda c, w: calls.append((c, w)))
  warm = seed004_mlp.get_config("fgan_kl_warm,mnist_5k,runlocal")
  warm.warm_start.workdir = str(source)
  report.ensure_warm_start_source(warm)
  assert len(calls) == 1 and calls[0][1] == str(source)
  assert calls[0][0].objective == "fgan_js" and calls[0][0].train.num_steps == 4
  (source / "checkpoints" / "4").mkdir(parents=True)
  report.ensure_warm_start_source(warm)  # its checkpoints are there: nothing to do
  assert len(calls) == 1
  report.ensure_warm_start_source(seed004_mlp.get_config("fgan_kl"))  # no warm start
  warm.warm_start.workdir = str(tmp_path / "never_trained")
  with pytest.raises(FileNotFoundError, match="train it first"):
    report.ensure_warm_start_source(warm)
