"""The sections of `tools/report.py`: tables, figures and claim verdicts.

Each `*_section` turns finished `report_lib.Run`s into markdown (with figure
links relative to the report folder) and claims; `dirac_section` also runs the
Dirac-GAN dynamics lab (`gan_jax.dynamics.lab`) itself, since its analysis is
not a training run (its 2-D follow-up is: `experiments/toy_modes.py` runs
trained by `train_and_evaluate`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Sequence

import numpy as np

from experiments import dirac_gan, seed004_mlp, toy_modes
from tools import report_figures as figures
from tools import report_lib as lib
from tools.report_lib import Run
from gan_jax.dynamics import lab

FLOOR_METRICS = ("score", "fid", "precision", "recall")
LATE_EVALS = 5  # the 2-D claims: each seed's mean coverage over its last 5 evaluations
HEADLINE_004 = ("vanilla", "fgan_kl_warm", "fgan_reverse_kl_warm", "wgan_wc", "wgan_gp")


@dataclasses.dataclass
class Section:
  """One section of the report: its markdown, its runs, its claims (verdicts
  set by `report_lib.judge` over the whole report), the budget they were
  judged at (from the runs) and the seed's own budget."""
  name: str
  markdown: str
  runs: list[tuple[str, Run]] = dataclasses.field(default_factory=list)
  claims: list[lib.Claim] = dataclasses.field(default_factory=list)
  budget: str = ""
  seed_budget: str = ""


# What the seeds themselves trained, shown beside the budget each claim was judged at.
SEED_BUDGETS = {
    "seed000": "15,000 G steps per run, batch 50 (WGAN / WGAN-GP: 5 critic steps each)",
    "seed004": "150 epochs of MNIST per algorithm, batch 64",
    "dirac": "exact local analysis of the Dirac-GAN; the 2-D runs are this project's follow-up",
    "methods": "– (methods beyond the seeds; the papers trained far longer, e.g. ImageNet for "
               "projection and AC-GAN)",
}


def budget_text(cells: dict[Any, Sequence[Run]], *, epoch_examples: int = 0) -> str:
  """What the runs of a section trained: generator steps, critic steps and batch
  per group of cells that share them (with epochs when `epoch_examples` > 0),
  then the seeds per cell, e.g. "wgan_wc, wgan_gp: 1,875 G steps x 5 critic
  steps (batch 64; 9,375 critic batches = 150 epochs); 3 seeds per cell"."""
  groups: dict[tuple, list[str]] = {}
  seeds = set()
  for name, runs in cells.items():
    cfg = run_config(runs[0]) if runs else {}
    k = int(cfg.get("num_critic_steps", 1))
    batch = cfg.get("dataset", {}).get("batch_size")
    groups.setdefault((runs[0].num_steps, k, batch), []).append(
        name if isinstance(name, str) else "/".join(name))
    seeds.add(sum(len(r.seeds) for r in runs))
  parts = []
  for (steps, k, batch), names in groups.items():
    text = f"{steps:,} G steps" + (f" x {k} critic steps" if k > 1 else "")
    extras = [f"batch {batch}"] if batch else []
    if k > 1:
      extras.append(f"{steps * k:,} critic batches")
    if epoch_examples and batch:
      epochs = f"{steps * k * batch / epoch_examples:.0f} epochs"
      if k > 1:
        extras[-1] += f" = {epochs}"
      else:
        extras.append(epochs)
    text += f" ({'; '.join(extras)})" if extras else ""
    parts.append((f"{', '.join(names)}: " if len(groups) > 1 else "") + text)
  return "; ".join(parts) + f"; {', '.join(map(str, sorted(seeds)))} seeds per cell"


def run_config(run: Run) -> dict[str, Any]:
  """The config.json a run saved ({} if it never started)."""
  path = os.path.join(run.workdir, "config.json")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def floor_values(cells: Sequence[Sequence[Run]], metric: str) -> np.ndarray:
  """The real-vs-real floor `floor/<metric>` once per seed of every run given
  (it is computed once per run, so every eval row of a seed holds the same value)."""
  out = []
  for runs in cells:
    _, values = lib.series(runs, f"floor/{metric}")
    out += [row[np.isfinite(row)][0] for row in values if np.isfinite(row).any()]
  return np.asarray(out, np.float64)


def floor_cells(cells: Sequence[Sequence[Run]]) -> list[str]:
  """Formatted floor per FLOOR_METRICS (mean ± std over the seeds of all runs)."""
  return [lib.fmt(floor_values(cells, m), digits=3 if m in ("precision", "recall") else 2)
          for m in FLOOR_METRICS]


def _seconds(runs: Sequence[Run]) -> str:
  return f"{sum(r.seconds for r in runs):.0f}"


def _link(folder: str, name: str) -> str:
  return f"{os.path.basename(folder)}/{name}"


# --- seed 000 ----------------------------------------------------------------------------------

SEED000_ALGOS = ("dcgan", "wgan", "wgan_gp")
SEED000_ORIGIN = {
    "mnist_5k": lib.SEED_CLAIM + " (on mnist_5k, 4,000 training digits; in-domain classifier "
                "score for the Inception score)",
    "mnist": lib.SEED_CLAIM + " (in-domain classifier score for the Inception score)",
    "fashion_mnist": lib.extrapolation("Fashion-MNIST: the seed shows its curves but gives no "
                                       "numbers"),
}


def seed000_section(opts, folder: str, cells: dict[tuple[str, str], list[Run]]) -> Section:
  """DCGAN vs WGAN vs WGAN-GP per dataset: curves, mean / max score, FID,
  loss-vs-FID correlation, sample grids; claims judged per dataset."""
  os.makedirs(folder, exist_ok=True)
  section = Section("seed000", "", runs=[("seed000", r) for c in cells.values() for r in c],
                    budget=budget_text(cells), seed_budget=SEED_BUDGETS["seed000"])
  md = ["## Seed 000: DCGAN vs WGAN vs WGAN-GP (DCGAN-28, Table 1 settings)", "",
        "Score = classifier score exp(E KL(p(y|x) || p(y))) of the in-domain CNN; mean / max "
        "over the eval points of each seed, then mean ± std over seeds. Spearman / Pearson: "
        "correlation over eval points of -d/loss (for WGAN / WGAN-GP the critic's Wasserstein "
        "estimate; the train row's mean since the previous evaluation) with FID, per seed. "
        "Each algorithm ran the generator steps in its row (WGAN / WGAN-GP do 5 critic steps "
        "per generator step, so they got fewer generator steps for a similar wall time)."]
  for dataset in dict.fromkeys(d for d, _ in cells):
    by_algo = {a: runs for (d, a), runs in cells.items() if d == dataset}
    rows, mean_score, max_score, rhos = [], {}, {}, {}
    for algo, runs in by_algo.items():
      cfg = run_config(runs[0])
      mean_score[algo] = lib.curve_summary(runs, "eval/score", reduce="mean")
      max_score[algo] = lib.curve_summary(runs, "eval/score", reduce="max")
      late = runs[0].num_steps // 2
      rhos[algo] = lib.loss_quality_correlation(runs, method="spearman", from_step=late)
      pearson = lib.loss_quality_correlation(runs, method="pearson", from_step=late)
      rows.append([algo, str(runs[0].num_steps), str(cfg.get("num_critic_steps", "?")),
                   str(sum(len(r.seeds) for r in runs)), lib.fmt(mean_score[algo]),
                   lib.fmt(max_score[algo]), lib.fmt(lib.final_values(runs, "eval/score")),
                   lib.fmt(lib.final_values(runs, "eval/fid"), digits=1),
                   lib.fmt(lib.curve_summary(runs, "eval/fid", reduce="min"), digits=1),
                   lib.fmt(lib.final_values(runs, "eval/precision"), digits=3),
                   lib.fmt(lib.final_values(runs, "eval/recall"), digits=3),
                   lib.fmt(rhos[algo]), lib.fmt(pearson), _seconds(runs),
                   lib.status_text(runs)])
    floor = floor_cells(list(by_algo.values()))
    rows.append(["real-vs-real floor", "–", "–", "–", floor[0], "–", floor[0], floor[1], "–",
                 floor[2], floor[3], "–", "–", "–", "–"])
    header = ["algo", "G steps", "critic steps / G step", "seeds", "mean score", "max score",
              "final score", "final FID", "best FID", "final precision", "final recall",
              "Spearman(-D loss, FID), 2nd half", "Pearson, 2nd half", "wall s (all seeds)",
              "status"]
    curves, scatter, samples = (f"curves_{dataset}.png", f"loss_vs_fid_{dataset}.png",
                                f"samples_{dataset}.png")
    table_algos = {a: r for a, r in by_algo.items() if a in SEED000_ALGOS}
    figures.plot_cell_curves(os.path.join(folder, curves), by_algo,
                             panels=(("eval/score", "classifier score"), ("eval/fid", "FID")),
                             title=f"seed 000 on {dataset} (mean ± std over seeds)")
    figures.plot_loss_vs_quality(os.path.join(folder, scatter), table_algos,
                                 title=f"-d/loss vs FID at eval steps, {dataset}")
    has_samples = figures.plot_sample_montage(
        os.path.join(folder, samples),
        {a: figures.sample_grids(runs[0].workdir, max_grids=4) for a, runs in by_algo.items()},
        title=f"samples of seed {by_algo[next(iter(by_algo))][0].seeds[0]}, {dataset}")
    md += ["", f"### {dataset}", "", lib.markdown_table(header, rows),
           f"![curves]({_link(folder, curves)}) ![loss vs FID]({_link(folder, scatter)})"]
    if has_samples:
      md.append(f"\n![samples]({_link(folder, samples)})")
    origin = SEED000_ORIGIN.get(dataset, lib.extrapolation(f"{dataset}: not the seed's data"))
    if set(SEED000_ALGOS) <= set(by_algo):
      steps = by_algo["dcgan"][0].num_steps
      at = f"{dataset}, {steps:,} G steps"
      section.claims += [
          lib.extreme_claim(f"Seed 000 ({at}): WGAN-GP has the highest mean classifier score",
                            origin, {a: mean_score[a] for a in SEED000_ALGOS}, ["wgan_gp"],
                            best=True, higher_is_better=True, digits=2),
          lib.extreme_claim(f"Seed 000 ({at}): WGAN has the lowest mean classifier score",
                            origin, {a: mean_score[a] for a in SEED000_ALGOS}, ["wgan"],
                            best=False, higher_is_better=True, digits=2),
          lib.extreme_claim(f"Seed 000 ({at}): DCGAN has the highest maximum classifier score "
                            "(Table 2: 7.40 vs WGAN-GP 6.60, WGAN 5.24)", origin,
                            {a: max_score[a] for a in SEED000_ALGOS}, ["dcgan"], best=True,
                            higher_is_better=True, digits=2),
          lib.tracking_claim(f"Seed 000 ({at}): WGAN / WGAN-GP losses track sample quality "
                             "more closely than DCGAN's (Spearman of -D loss with FID over "
                             "the second half of each run, Fisher z per seed)", origin,
                             {a: rhos[a] for a in SEED000_ALGOS},
                             tracking=("wgan", "wgan_gp"), not_tracking=("dcgan",))]
    for algo, runs in by_algo.items():
      if algo.startswith("dcgan_") and np.isfinite(rhos[algo]).sum() >= 2:
        section.claims.append(lib.Claim(
            f"Seed 000 ({dataset}, {runs[0].num_steps:,} G steps): DCGAN's -D loss does not "
            "track FID (Spearman over the second half below 0.5, Fisher z per seed)", origin,
            f"Spearman {lib.fmt(rhos[algo])} over {np.isfinite(rhos[algo]).sum()} seeds",
            lib.one_sample(lib.fisher_z(rhos[algo]), float(np.arctanh(0.5)), name="z(rho)",
                           below=True)))
  section.markdown = "\n".join(md)
  _write(folder, "seed000.md", section.markdown)
  return section


# --- seed 004 ----------------------------------------------------------------------------------


def best_text(runs: Sequence[Run], key: str) -> str:
  """The lowest value of `key` over the evaluations of each seed, mean ± std,
  and the step of the seed mean's minimum ("–" without evaluations)."""
  steps, values = lib.series(runs, key)
  if not values.size or not np.isfinite(values).any():
    return "–"
  best = lib.curve_summary(runs, key, reduce="min")
  step = int(steps[np.nanargmin(np.nanmean(values, axis=0))])
  return f"{lib.fmt(best, digits=1)} ({step})"


EXPLODE_LOGIT = 1e4  # a seed exploded: a non-finite loss, or max |D logit| past this
ABLATION_004 = ("vanilla", "vanilla_clip_wd", "vanilla_dropout", "fgan_gan", "vanilla_diffaug")


def _peak(runs: Sequence[Run], key: str) -> np.ndarray:
  """Per seed, the largest value of `key` over the run (NaN where not logged)."""
  return lib.curve_summary(runs, key, reduce="max")


def _schedule_text(cfg: dict[str, Any]) -> str:
  """The learning rates of a run's optimizers, with the ramp when there is one:
  "2e-4 (D 2.5e-4)" or "1e-4 after /100, /10 for 937 updates each"."""
  g, d = cfg.get("optimizer_g", {}), cfg.get("optimizer_d", {})
  lr = f"{g.get('learning_rate', float('nan')):g}"
  if d.get("learning_rate") != g.get("learning_rate"):
    lr += f" (D {d.get('learning_rate', float('nan')):g})"
  if g.get("warmup_steps"):
    lr += f" after /100, /10 for {g['warmup_steps']} updates each"
  return lr


def seed004_section(opts, folder: str, cells: dict[str, list[Run]], *,
                    dataset: str = "mnist_5k", name: str = "seed004") -> Section:
  """MLP GANs on `dataset`: the seed's algorithms (final and best FID, precision,
  recall, largest D logit, exploded seeds), the vanilla ablation, and claims."""
  os.makedirs(folder, exist_ok=True)
  examples = seed004_mlp.EPOCH_EXAMPLES[dataset]
  section = Section(name, "", runs=[(name, r) for c in cells.values() for r in c],
                    budget=budget_text({a: r for a, r in cells.items() if a != "fgan_js_warmup"},
                                       epoch_examples=examples),
                    seed_budget=SEED_BUDGETS["seed004"])
  header = ["algo", "objective", "start", "learning rate", "G steps", "D batches (epochs)",
            "seeds", "final FID", "best FID (step)", "final precision", "final recall",
            "max \\|D logit\\| (median over seeds)", "exploded seeds", "wall s (all seeds)",
            "status"]
  rows, fid, best = [], {}, {}
  warm_steps = cells["fgan_js_warmup"][0].num_steps if "fgan_js_warmup" in cells else 0
  table_algos = [a for a in cells if a not in seed004_mlp.ABLATIONS]
  for algo in table_algos:
    runs = cells[algo]
    cfg = run_config(runs[0])
    fid[algo] = lib.final_values(runs, "eval/fid")
    best[algo] = lib.curve_summary(runs, "eval/fid", reduce="min")
    k = int(cfg.get("num_critic_steps", 1))
    d_batches = runs[0].num_steps * k
    exploded, evidence, total = lib.exploded_seeds(runs, logit_threshold=EXPLODE_LOGIT)
    peak = _peak(runs, "d/max_abs_logit")
    start = (f"JS warm-up ({warm_steps:,} steps)" if algo.endswith("_warm") else "random")
    rows.append([algo, cfg.get("objective", "?"), start, _schedule_text(cfg),
                 f"{runs[0].num_steps:,}",
                 f"{d_batches:,} ({d_batches * 64 / examples:.0f})",
                 str(total), lib.fmt(fid[algo], digits=1), best_text(runs, "eval/fid"),
                 lib.fmt(lib.final_values(runs, "eval/precision"), digits=3),
                 lib.fmt(lib.final_values(runs, "eval/recall"), digits=3),
                 f"{np.nanmedian(peak):.3g}" if np.isfinite(peak).any() else "not logged",
                 f"{exploded}/{evidence}", _seconds(runs), lib.status_text(runs)])
  floor = floor_cells(list(cells.values()))
  rows.append(["real-vs-real floor", "–", "–", "–", "–", "–", "–", floor[1], "–", floor[2],
               floor[3], "–", "–", "–", "–"])
  names = [a for a in table_algos if a != "fgan_js_warmup"]
  floor_fid = floor_values(list(cells.values()), "fid")
  figures.plot_bars(os.path.join(folder, "fid.png"), {a: fid[a] for a in names},
                    ylabel="final FID (in-domain features)",
                    floor=float(floor_fid.mean()) if len(floor_fid) else None,
                    title=f"seed 004 MLP GANs on {dataset}")
  figures.plot_cell_curves(
      os.path.join(folder, "curves.png"), {a: cells[a] for a in names},
      panels=(("eval/fid", "FID (log scale)"), ("eval/recall", "recall"),
              ("eval/precision", "precision"), ("d/max_abs_logit", "max |D logit| (log)")),
      title=f"seed 004 on {dataset} (mean ± std over seeds)",
      log_keys=("eval/fid", "d/max_abs_logit"),
      step_scale={a: float(run_config(cells[a][0]).get("num_critic_steps", 1)) for a in names},
      xlabel=f"D batches of 64 ({examples / 64:.1f} per epoch)")
  has_samples = figures.plot_sample_montage(
      os.path.join(folder, "samples.png"),
      {a: figures.sample_grids(cells[a][0].workdir, max_grids=2) for a in table_algos},
      title="samples (first seed)")
  data_note = ("mnist_5k: 4,000 training digits where the seed had MNIST's 60,000, so its "
               "150 epochs are 9,375 D batches here instead of about 140,000" if dataset ==
               "mnist_5k" else f"{dataset}: 60,000 training images at the seed's step count; "
               "Fashion-MNIST stands in for the seed's MNIST, which is not offline here")
  md = [f"## Seed 004: MLP GANs on {dataset}", "",
        f"Settings are the seed's (experiments/seed004_mlp.py quotes its lines); data: "
        f"{data_note}. Final = at the last generator step, best = the lowest FID of any "
        "evaluation (the step of the seed mean's minimum), mean ± std over the seeds that "
        "finished. `start`: the `_warm` runs start from the same seed's `fgan_js_warmup` run "
        f"(JS f-GAN, {warm_steps:,} steps = 6 of the seed's epochs of 60,000, D weight decay "
        "1e-5, lr 2e-4), and their own run ramps the learning rate alpha/100 -> alpha/10 -> "
        "alpha = 1e-4 as the seed's target runs did. A seed *exploded* when a non-finite loss "
        f"stopped it or the largest |D logit| of any step passed {EXPLODE_LOGIT:g} "
        "(`d/max_abs_logit`, the max over the batch, the critic steps and the log window).",
        "", lib.markdown_table(header, rows),
        f"![FID]({_link(folder, 'fid.png')})", "",
        "FID, recall, precision and the largest D logit at every evaluation against D batches "
        "(the WGANs' 5 critic steps per generator step put every algorithm on one epoch axis). "
        "Read recall with the grids: k-NN recall counts a real image as covered when it falls "
        "inside any generated image's k-NN ball, so a few outlying fakes with large balls keep "
        "it high while most samples collapse onto a few classes (Kynkäänniemi et al. 2019; "
        "Naeem et al. 2020's coverage addresses it); FID does register such a collapse.", "",
        f"![curves]({_link(folder, 'curves.png')})"]
  if has_samples:
    md.append(f"\n![samples]({_link(folder, 'samples.png')})")
  if {"fgan_gan", "fgan_js"} <= set(cells):
    gan, js = (lib.series(cells[a], "eval/fid") for a in ("fgan_gan", "fgan_js"))
    same = np.array_equal(gan[0], js[0]) and np.array_equal(gan[1], js[1], equal_nan=True)
    md += ["", f"fgan_gan and fgan_js: every FID of every seed is {'' if same else 'not '}"
           "equal. Their D objectives differ by the constant 2 log 2 and their G losses by "
           "log 2 (GAN = 2 JSD - log 4; gan_jax/divergences.py), so their gradients and "
           "trajectories should agree exactly."]
  md += _ablation_004(folder, cells)
  origin = (lib.SEED_CLAIM + " (on mnist_5k; in-domain FID)" if dataset == "mnist_5k" else
            lib.extrapolation(f"{dataset} for MNIST; in-domain FID"))
  headline = {a: fid[a] for a in HEADLINE_004 if a in fid}
  at = f"{dataset}, {budget_text({a: cells[a] for a in headline}, epoch_examples=examples)}"
  if len(headline) == len(HEADLINE_004):
    section.claims += [
        lib.extreme_claim(f"Seed 004 ({dataset}): WGAN-GP has the best final FID of vanilla, "
                          "KL, reverse KL, WGAN-WC, WGAN-GP (Table 2: 36.2 vs 44.4, 50.1, "
                          "94.8, 94.8)", origin, headline, ["wgan_gp"], best=True,
                          higher_is_better=False),
        lib.extreme_claim(f"Seed 004 ({dataset}): reverse-KL f-GAN and WGAN-WC have the worst "
                          "final FIDs", origin, headline, ["fgan_reverse_kl_warm", "wgan_wc"],
                          best=False, higher_is_better=False)]
    best_headline = {a: best[a] for a in HEADLINE_004}
    section.claims.append(lib.extreme_claim(
        f"Seed 004 ({dataset}): WGAN-GP has the best FID of the five at its best evaluation",
        lib.extrapolation("the best checkpoint; the seed reports one number per model"),
        best_headline, ["wgan_gp"], best=True, higher_is_better=False))
  if "fgan_kl" in cells and "fgan_kl_warm" in cells:
    section.claims.append(lib.explosion_claim(
        f"Seed 004 ({dataset}): the KL f-GAN explodes from random weights at the seed's "
        "default lr 2e-4 and not when warm-started from JS with the lr ramp", origin,
        cells["fgan_kl"], cells["fgan_kl_warm"], logit_threshold=EXPLODE_LOGIT))
  section.markdown = "\n".join(md)
  _write(folder, f"{name}.md", section.markdown)
  return section


def _ablation_004(folder: str, cells: dict[str, list[Run]]) -> list[str]:
  """The vanilla ablation: which of the f-GANs' stabilisers keeps the vanilla GAN
  from collapsing on a small set (markdown lines; [] without its cells)."""
  names = [a for a in ABLATION_004 if a in cells]
  if len(names) < 2 or "vanilla" not in names:
    return []
  rows = []
  for algo in names:
    runs = cells[algo]
    cfg = run_config(runs[0])
    steps, acc = lib.series(runs, "d/accuracy")
    rows.append([algo, cfg.get("objective", "?"), str(sum(len(r.seeds) for r in runs)),
                 lib.fmt(lib.final_values(runs, "eval/fid"), digits=1),
                 best_text(runs, "eval/fid"),
                 lib.fmt(lib.final_values(runs, "eval/recall"), digits=3),
                 lib.fmt(lib.final_values(runs, "d/accuracy"), digits=3),
                 lib.fmt(lib.final_values(runs, "d/real_logits"), digits=2),
                 lib.fmt(lib.final_values(runs, "eval/fid") -
                         lib.curve_summary(runs, "eval/fid", reduce="min"), digits=1),
                 _seconds(runs), lib.status_text(runs)])
  figures.plot_cell_curves(
      os.path.join(folder, "ablation_curves.png"), {a: cells[a] for a in names},
      panels=(("eval/fid", "FID (log scale)"), ("d/accuracy", "D accuracy"),
              ("d/real_logits", "mean D logit on real")),
      title="the vanilla GAN's collapse: ablation (mean ± std over seeds)",
      log_keys=("eval/fid",))
  has_samples = figures.plot_sample_montage(
      os.path.join(folder, "ablation_samples.png"),
      {a: figures.sample_grids(cells[a][0].workdir, max_grids=3) for a in names},
      title="ablation samples (first seed) over training")
  md = ["", "### Where the vanilla GAN collapses: an ablation", "",
        "The vanilla GAN is the only cell trained without the f-GANs' stabilisers. Each row "
        "changes one thing: `vanilla_clip_wd` adds the f-GANs' gradient-norm clipping (1, both "
        "players) and D weight decay 1e-4 (with the non-saturating G loss this is also "
        "`fgan_gan` with the non-saturating G loss: the two D losses are one function), "
        "`vanilla_dropout` D dropout 0.3, `fgan_gan` is the f-GAN form (clipping, weight "
        "decay, and the saturating G loss -E f*(T)), `vanilla_diffaug` DiffAugment "
        "(translation and cutout on every D input, real and fake; Zhao et al. 2020; no seed "
        "has it). Collapse = final FID minus best FID (a run that only improves has 0).", "",
        lib.markdown_table(["cell", "objective", "seeds", "final FID", "best FID (step)",
                            "final recall", "final D accuracy", "final mean D logit (real)",
                            "collapse (final - best FID)", "wall s (all seeds)", "status"],
                           rows),
        "![ablation curves](" + _link(folder, "ablation_curves.png") + ")"]
  if has_samples:
    md.append("\n![ablation samples](" + _link(folder, "ablation_samples.png") + ")")
  return md


# --- Dirac-GAN and mode coverage ---------------------------------------------------------------


def _cached_lab(config, workdir: str, result: str, *, log: Callable[[str], None]) -> bool:
  """Runs `lab.run(config, workdir)` unless `workdir` has `result` from the same
  config; returns whether it ran."""
  stamp = os.path.join(workdir, "lab_config.json")
  text = config.to_json_best_effort(sort_keys=True)
  if os.path.exists(os.path.join(workdir, result)) and os.path.exists(stamp):
    with open(stamp) as f:
      if f.read() == text:
        log(f"  {workdir}: finished before, reused")
        return False
  log(f"  {workdir}: running the {config.lab} lab ...")
  lab.run(config, workdir)
  _write(workdir, "lab_config.json", text)
  return True


def last_change_step(runs: Sequence[Run], key: str) -> tuple[int | None, int | None]:
  """(last step at which the seed mean of `key` changed, last eval step); None when
  the runs have no `key`. A curve that last changed well before its end had settled."""
  steps, values = lib.series(runs, key)
  if not steps.size:
    return None, None
  mean = np.nanmean(values, axis=0)
  changed = np.nonzero(np.abs(np.diff(mean)) > 1e-9)[0]
  return (int(steps[changed[-1] + 1]) if changed.size else int(steps[0])), int(steps[-1])


SETTLED_MODES = 1.0  # the 2-D runs' criterion: the unregularized seed-mean coverage
                     # moved by at most this many modes over the last quarter of the run


def last_quarter_spread(runs: Sequence[Run], key: str) -> tuple[float, int, int]:
  """(max - min of the seed mean of `key` over the evaluations in the last
  quarter of training, the first and last step of that quarter); NaN without
  evaluations there."""
  steps, values = lib.series(runs, key)
  if not steps.size:
    return float("nan"), 0, 0
  late = steps >= steps[-1] * 3 // 4
  mean = np.nanmean(values[:, late], axis=0)
  return float(mean.max() - mean.min()), int(steps[late][0]), int(steps[-1])


def dirac_section(opts, folder: str, cells: dict[tuple[str, str], list[Run]], *,
                  log: Callable[[str], None]) -> Section:
  """Dirac-GAN verdicts (deterministic lab) and the 2-D follow-up: covered modes of
  every (dataset, method) cell trained by `train_and_evaluate`, each regularizer
  judged against the unregularized GAN."""
  section = Section("dirac", "", runs=[("dirac", r) for c in cells.values() for r in c],
                    budget="verdicts exact; 2-D runs: " + budget_text(cells),
                    seed_budget=SEED_BUDGETS["dirac"])
  config = dirac_gan.get_config("runlocal" if opts.smoke else "dynamics")
  dyn = os.path.join(folder, "dynamics")
  _cached_lab(config, dyn, "verdicts.json", log=log)
  with open(os.path.join(dyn, "verdicts.json")) as f:
    verdicts = json.load(f)
  with open(os.path.join(dyn, "verdicts.md")) as f:
    verdict_md = f.read()
  cases = [("", "on the Dirac-GAN, the general case (unregularized, WGAN, WGAN-GP, DRAGAN no; "
            "instance noise, consensus, gradient penalties, R1, R2 yes)")]
  if all("ac_converges" in v for v in verdicts):
    cases.append(("ac_", "with absolutely continuous distributions, the a.c. case "
                  "(unregularized, DRAGAN, instance noise, consensus, gradient penalties, R1, "
                  "R2 yes; WGAN, WGAN-GP no)"))
  for prefix, which in cases:
    wrong = [v["method"] for v in verdicts
             if v[f"{prefix}converges"] != v[f"paper_{prefix}converges"]]
    section.claims.append(lib.Claim(
        f"Mescheder et al.: which methods converge locally {which}", lib.SEED_CLAIM,
        f"our verdict differs for {', '.join(wrong)}" if wrong else
        f"all {len(verdicts)} methods checked give the paper's verdict",
        exact_verdict=lib.DISAGREES if wrong else lib.AGREES))
  md = ["## Mescheder et al. 2018: Dirac-GAN and 2-D mode coverage", "",
        f"Verdicts (deterministic: eigenvalues at the equilibrium and simulated updates from "
        f"a grid of starts; config `experiments/dirac_gan.py"
        f"{':runlocal' if opts.smoke else ''}`):", "", verdict_md,
        f"![Dirac-GAN]({_link(folder, 'dynamics/dirac_gan.png')})", ""]
  modes_at = len(md)
  modes_dir = os.path.join(folder, "modes")
  os.makedirs(modes_dir, exist_ok=True)
  header = ["dataset", "method", "covered modes (3 std)", "per seed",
            f"mean of the last {LATE_EVALS} evaluations", "covered (loose)",
            "high-quality samples %", "G steps", "coverage last changed at step",
            "wall s (all seeds)", "status"]
  rows, settled = [], {}
  for dataset in dict.fromkeys(d for d, _ in cells):
    by_method = {m: runs for (d, m), runs in cells.items() if d == dataset}
    final = {m: lib.final_values(runs, "eval/modes_covered") for m, runs in by_method.items()}
    covered = {m: lib.curve_summary(runs, "eval/modes_covered", reduce="mean", last=LATE_EVALS)
               for m, runs in by_method.items()}
    for method, runs in by_method.items():
      last, end = last_change_step(runs, "eval/modes_covered")
      num_modes = lib.final_values(runs, "eval/num_modes")
      rows.append([dataset, method,
                   f"{lib.fmt(final[method])} / {np.nanmax(num_modes, initial=0):.0f}",
                   " ".join(f"{v:.0f}" for v in final[method] if np.isfinite(v)),
                   lib.fmt(covered[method]),
                   lib.fmt(lib.final_values(runs, "eval/modes_covered_loose")),
                   lib.fmt(100 * lib.final_values(runs, "eval/high_quality"), digits=1),
                   str(runs[0].num_steps), "–" if last is None else f"{last:,}",
                   _seconds(runs), lib.status_text(runs)])
      if method == "none":
        settled[dataset] = (last, end, *last_quarter_spread(runs, "eval/modes_covered"))
    curves = f"modes_{dataset}.png"
    figures.plot_cell_curves(
        os.path.join(modes_dir, curves), by_method,
        panels=(("eval/modes_covered", "covered modes (3 std)"),
                ("eval/modes_covered_loose", "covered modes (loose)"),
                ("eval/high_quality", "high-quality fraction")),
        title=f"2-D {dataset} (mean ± std over seeds)")
    scatters = f"samples_{dataset}.png"
    has_samples = figures.plot_sample_montage(
        os.path.join(modes_dir, scatters),
        {m: figures.sample_grids(runs[0].workdir, max_grids=1) for m, runs in by_method.items()},
        title=f"final samples (first seed) over the data, {dataset}")
    md_links = f"![coverage]({_link(folder, 'modes/' + curves)})"
    if has_samples:
      md_links += f"\n\n![samples]({_link(folder, 'modes/' + scatters)})"
    settled_text = ""
    if dataset in settled and settled[dataset][0] is not None:
      last, end, spread, q_start, q_end = settled[dataset]
      met = "met" if spread <= SETTLED_MODES else "not met: the cap ended the run"
      settled_text = (f"the unregularized run's seed-mean coverage moved by {spread:.2f} modes "
                      f"over the last quarter (steps {q_start:,}-{q_end:,}; criterion <= "
                      f"{SETTLED_MODES:g}: {met}) and last changed at step {last:,} of {end:,}")
    md += [f"### {dataset}", "", (settled_text[:1].upper() + settled_text[1:] + ".")
           if settled_text else "", "", md_links, ""]
    none = covered.get("none")
    for method in by_method:
      if method == "none" or none is None or method in toy_modes.SWEEP:
        continue
      claim = lib.pair_claim(
          f"Mescheder 2-D follow-up ({dataset}): {method} covers more modes than the "
          "unregularized GAN", lib.extrapolation(
              "this project's 2-D follow-up; the paper's claim is local convergence"),
          covered[method], none, higher_is_better=True, names=(method, "none"), digits=2)
      claim.reason = (f"covered modes (mean of the last {LATE_EVALS} evaluations) "
                      + claim.reason + (f"; {settled_text}" if settled_text else ""))
      section.claims.append(claim)
  first = next((r for c in cells.values() for r in c), None)
  ecfg = run_config(first).get("eval", {}) if first else {}
  intro = [f"Mode coverage: experiments/toy_modes.py (the MLP GAN of toy_ring.py, Adam 5e-4), "
           f"{budget_text(cells)}, trained and scored by `train_and_evaluate` (one run: "
           "`launch.py --config=experiments/toy_modes.py:r1,ring --workdir=DIR`); a mode is "
           f"covered by >= {ecfg.get('modes_min_count', '?')} of "
           f"{ecfg.get('num_samples', '?')} samples within 3 std of it (loose: "
           f"{ecfg.get('modes_loose_num_std', '?')} std). Final = at the last step. The "
           "strict count can swing from one evaluation to the next as G moves mass between "
           f"modes, so the claims compare each seed's mean over its last {LATE_EVALS} "
           "evaluations. The run length is a cap: each dataset's line below says whether the "
           "unregularized coverage had settled by it. The `r1_gamma<g>` rows sweep R1's gamma "
           "on the ring (its modes have std 0.02) beside `r1` (gamma 1); they are descriptive "
           "and enter no claim.", "",
           lib.markdown_table(header, rows)]
  md[modes_at:modes_at] = intro
  section.markdown = "\n".join(md)
  _write(folder, "dirac.md", section.markdown)
  return section


# --- methods beyond the seeds --------------------------------------------------------------------


def methods_section(opts, folder: str, cells: dict[tuple[str, str], list[Run]]) -> Section:
  """Methods beyond the seeds: SN vs no SN (DCGAN-28), the class-conditional models
  (per-class grids, class accuracy, intra-FID), and links to the CycleGAN
  translation grid and the parallel-lines figure, which their own programs make."""
  os.makedirs(folder, exist_ok=True)
  dataset = next(iter(cells))[0]
  sn_names = [f"{n}{suffix}" for suffix in ("", "_long") for n in ("dcgan", "dcgan_sn")]
  sn = {n: cells[(dataset, n)] for n in sn_names if (dataset, n) in cells}
  cond = {n: runs for (_, n), runs in cells.items() if n not in sn}
  section = Section("methods", "", runs=[("methods", r) for c in cells.values() for r in c],
                    budget=budget_text(cells), seed_budget=SEED_BUDGETS["methods"])
  md = ["## Methods beyond the seeds", "",
        f"On {dataset}, with seed 000's DCGAN settings (DCGAN-28, non-saturating loss, batch "
        "50, Adam 2e-4 b1 0.5) and budget; in-domain metrics of the final evaluation, mean ± "
        "std over seeds, the real-vs-real floor beside them."]
  # Spectral normalization, at seed 000's budget and (`_long`) at a longer one.
  rows = []
  for name, runs in sn.items():
    rows.append([name, str(runs[0].num_steps), str(sum(len(r.seeds) for r in runs)),
                 lib.fmt(lib.final_values(runs, "eval/fid"), digits=1),
                 best_text(runs, "eval/fid"), lib.fmt(lib.final_values(runs, "eval/score")),
                 lib.fmt(lib.final_values(runs, "eval/precision"), digits=3),
                 lib.fmt(lib.final_values(runs, "eval/recall"), digits=3), _seconds(runs),
                 lib.status_text(runs)])
  floor = floor_cells(list(sn.values()))
  rows.append(["real-vs-real floor", "–", "–", floor[1], "–", floor[0], floor[2], floor[3], "–",
               "–"])
  curves, samples = f"sn_curves_{dataset}.png", f"sn_samples_{dataset}.png"
  figures.plot_cell_curves(os.path.join(folder, curves), sn,
                           panels=(("eval/fid", "FID"), ("eval/score", "classifier score")),
                           title=f"DCGAN-28 with and without spectral norm, {dataset}")
  has_samples = figures.plot_sample_montage(
      os.path.join(folder, samples),
      {n: figures.sample_grids(runs[0].workdir, max_grids=1) for n, runs in sn.items()},
      title=f"final samples of seed {next(iter(sn.values()))[0].seeds[0]}")
  md += ["", "### Spectral normalization of D (Miyato et al. 2018)", "",
         "`dcgan` is seed 000's own run (reused); `dcgan_sn` the same config with "
         "`model.d_spectral_norm=True` (one power iteration per D call, u in the state); "
         "`_long`: the same pair trained longer, with fewer seeds.", "",
         lib.markdown_table(["D", "G steps", "seeds", "final FID", "best FID (step)",
                             "final score", "final precision", "final recall",
                             "wall s (all seeds)", "status"], rows),
         f"![curves]({_link(folder, curves)})"
         + (f" ![samples]({_link(folder, samples)})" if has_samples else "")]
  for suffix in ("", "_long"):
    plain, normalized = f"dcgan{suffix}", f"dcgan_sn{suffix}"
    if plain in sn and normalized in sn:
      section.claims.append(lib.pair_claim(
          f"Spectral normalization of D lowers DCGAN-28's final FID ({dataset}, "
          f"{sn[plain][0].num_steps:,} G steps)", lib.LITERATURE,
          lib.final_values(sn[normalized], "eval/fid"), lib.final_values(sn[plain], "eval/fid"),
          higher_is_better=False, names=("SN", "no SN")))
  # Class-conditional models.
  if cond:
    rows, accuracy, intra = [], {}, {}
    for name, runs in cond.items():
      accuracy[name] = lib.final_values(runs, "eval/class_accuracy")
      intra[name] = lib.final_values(runs, "eval/intra_fid")
      rows.append([name, str(runs[0].num_steps), lib.fmt(accuracy[name], digits=3),
                   lib.fmt(intra[name], digits=1),
                   lib.fmt(lib.final_values(runs, "eval/fid"), digits=1),
                   lib.fmt(lib.final_values(runs, "eval/score")),
                   lib.fmt(lib.final_values(runs, "eval/recall"), digits=3), _seconds(runs),
                   lib.status_text(runs)])
    runs_all = list(cond.values())
    rows.append(["real-vs-real floor", "–",
                 lib.fmt(floor_values(runs_all, "class_accuracy"), digits=3),
                 lib.fmt(floor_values(runs_all, "intra_fid"), digits=1),
                 lib.fmt(floor_values(runs_all, "fid"), digits=1),
                 lib.fmt(floor_values(runs_all, "score")),
                 lib.fmt(floor_values(runs_all, "recall"), digits=3), "–", "–"])
    grids = f"conditional_samples_{dataset}.png"
    has_grids = figures.plot_sample_montage(
        os.path.join(folder, grids),
        {n: figures.sample_grids(runs[0].workdir, max_grids=1) for n, runs in cond.items()},
        title="final samples of seed 0: row r asks for class r", grid_inches=4.5)
    md += ["", "### Class-conditional GANs", "",
           "G gets the one-hot class appended to z; D is the projection discriminator (Miyato "
           "& Koyama 2018) or AC-GAN's (Odena et al. 2017; class loss weight 1). The fakes of "
           "each update ask for the classes of its real batch. Class accuracy: the in-domain "
           "classifier's accuracy on the requested class of samples asking for each class "
           "equally often (chance 0.1; its floor is the classifier's accuracy on real test "
           "images). Intra-FID: the mean over the 10 classes of the FID between the samples "
           "and the real images of one class, about a tenth of the evaluation's samples per "
           "side (so above the all-class FID even for real data: see the floor).", "",
           lib.markdown_table(["D", "G steps", "class accuracy", "intra-FID", "FID", "score",
                               "recall", "wall s (all seeds)", "status"], rows)]
    if has_grids:
      md.append(f"![per-class samples]({_link(folder, grids)})")
    for name in cond:
      section.claims.append(lib.Claim(
          f"{name}: samples are of the requested class well above chance (class accuracy "
          f"> 0.5, {dataset})", lib.LITERATURE,
          f"{lib.fmt(accuracy[name], digits=3)} against 0.5",
          lib.one_sample(accuracy[name], 0.5, name=name)))
    if {"projection", "acgan"} <= set(cond):
      section.claims.append(lib.pair_claim(
          f"The projection discriminator has a lower intra-FID than AC-GAN ({dataset})",
          lib.LITERATURE, intra["projection"], intra["acgan"], higher_is_better=False,
          names=("projection", "AC-GAN")))
  # What other programs made.
  md += ["", "### Made by their own programs", ""]
  for title, path, command in (
      ("CycleGAN translation grid", "cyclegan/translation_grid.png",
       "python launch.py --config=experiments/cyclegan_fashion_mnist.py "
       "--workdir=workdirs/cyclegan; see results/cyclegan/README.md"),
      ("The WGAN paper's parallel lines", "parallel_lines/parallel_lines.png",
       "python -m gan_jax.dynamics.lab --config=experiments/dirac_gan.py:parallel_lines "
       "--workdir=results/parallel_lines; see results/parallel_lines/README.md")):
    if os.path.exists(os.path.join(opts.out, path)):
      md.append(f"- {title} (`{command}`):\n\n  ![{title}]({path})\n")
    else:
      md.append(f"- {title}: not made yet (`{command}`)")
  section.markdown = "\n".join(md)
  _write(folder, "methods.md", section.markdown.replace("](cyclegan/", "](../cyclegan/")
         .replace("](parallel_lines/", "](../parallel_lines/"))
  return section


# --- shared ------------------------------------------------------------------------------------


def runs_table(runs: Sequence[tuple[str, Run]]) -> str:
  """Every training run: steps, critic steps, evaluation, wall time, status."""
  rows = []
  for section, run in runs:
    cfg = run_config(run)
    every = cfg.get("eval", {}).get("every_steps", "?")
    rows.append([section, run.name, ",".join(map(str, run.seeds)),
                 "vmapped" if len(run.seeds) > 1 else "single", str(run.num_steps),
                 str(cfg.get("num_critic_steps", "?")), str(cfg.get("dataset", {}).get(
                     "batch_size", "?")), f"{every} x {cfg.get('eval', {}).get('num_samples')}",
                 f"{run.seconds:.0f}", run.status + (" (reused)" if run.reused else "")])
  return lib.markdown_table(["section", "run", "seeds", "layout", "G steps", "k", "batch",
                             "eval every x samples", "wall s", "status"], rows)


def _write(folder: str, name: str, text: str) -> None:
  """Writes `text` to folder/name; links written relative to the report folder
  ("(<folder name>/x.png)") are made relative to `folder`."""
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, name), "w") as f:
    f.write(text.replace(f"({os.path.basename(folder)}/", "("))
