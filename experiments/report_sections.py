"""The sections of `experiments/report.py`: tables, figures and claim verdicts.

`seed000_section` and `seed004_section` turn finished `report_lib.Run`s into
markdown (with figure links relative to the report folder) and claims;
`dirac_section` runs the Dirac-GAN lab (`gan_jax.dynamics.lab`) itself, since
its runs are short and are not training-loop runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Sequence

import numpy as np

from experiments import dirac_gan
from experiments import report_figures as figures
from experiments import report_lib as lib
from experiments.report_lib import Run
from gan_jax.dynamics import lab

FLOOR_METRICS = ("score", "fid", "precision", "recall")
HEADLINE_004 = ("vanilla", "fgan_kl_warm", "fgan_reverse_kl_warm", "wgan_wc", "wgan_gp")


@dataclasses.dataclass
class Section:
  """One section of the report: its markdown, its runs and its claims
  [(claim, verdict, reason)]."""
  name: str
  markdown: str
  runs: list[tuple[str, Run]] = dataclasses.field(default_factory=list)
  claims: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


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


def seed000_section(opts, folder: str, cells: dict[tuple[str, str], list[Run]]) -> Section:
  """DCGAN vs WGAN vs WGAN-GP per dataset: curves, mean / max score, FID,
  loss-vs-FID correlation, sample grids; claims judged per dataset."""
  os.makedirs(folder, exist_ok=True)
  section = Section("seed000", "", runs=[("seed000", r) for c in cells.values() for r in c])
  md = ["## Seed 000: DCGAN vs WGAN vs WGAN-GP (DCGAN-28, Table 1 settings)", "",
        "Score = classifier score exp(E KL(p(y|x) || p(y))) of the in-domain CNN; mean / max "
        "over the eval points of each seed, then mean ± std over seeds. Spearman / Pearson: "
        "correlation over eval points of -d/loss (for WGAN / WGAN-GP the critic's Wasserstein "
        "estimate; the train row's mean since the previous evaluation) with FID, per seed. "
        "Each algorithm ran the generator steps in its row (WGAN / WGAN-GP do 5 critic steps "
        "per generator step, so they got fewer generator steps for a similar wall time)."]
  for dataset in dict.fromkeys(d for d, _ in cells):
    by_algo = {a: runs for (d, a), runs in cells.items() if d == dataset}
    rows, mean_score, rhos = [], {}, {}
    for algo, runs in by_algo.items():
      cfg = run_config(runs[0])
      mean_score[algo] = lib.curve_summary(runs, "eval/score", reduce="mean")
      rhos[algo] = lib.loss_quality_correlation(runs, method="spearman")
      pearson = lib.loss_quality_correlation(runs, method="pearson")
      rows.append([algo, str(runs[0].num_steps), str(cfg.get("num_critic_steps", "?")),
                   lib.fmt(mean_score[algo]),
                   lib.fmt(lib.curve_summary(runs, "eval/score", reduce="max")),
                   lib.fmt(lib.final_values(runs, "eval/score")),
                   lib.fmt(lib.final_values(runs, "eval/fid"), digits=1),
                   lib.fmt(lib.curve_summary(runs, "eval/fid", reduce="min"), digits=1),
                   lib.fmt(lib.final_values(runs, "eval/precision"), digits=3),
                   lib.fmt(lib.final_values(runs, "eval/recall"), digits=3),
                   lib.fmt(rhos[algo]), lib.fmt(pearson), _seconds(runs),
                   lib.status_text(runs)])
    floor = floor_cells(list(by_algo.values()))
    rows.append(["real-vs-real floor", "–", "–", floor[0], "–", floor[0], floor[1], "–",
                 floor[2], floor[3], "–", "–", "–", "–"])
    header = ["algo", "G steps", "critic steps / G step", "mean score", "max score",
              "final score", "final FID", "best FID", "final precision", "final recall",
              "Spearman(-D loss, FID)", "Pearson", "wall s (all seeds)", "status"]
    curves, scatter, samples = (f"curves_{dataset}.png", f"loss_vs_fid_{dataset}.png",
                                f"samples_{dataset}.png")
    figures.plot_cell_curves(os.path.join(folder, curves), by_algo,
                             panels=(("eval/score", "classifier score"), ("eval/fid", "FID")),
                             title=f"seed 000 on {dataset} (mean ± std over seeds)")
    figures.plot_loss_vs_quality(os.path.join(folder, scatter), by_algo,
                                 title=f"-d/loss vs FID at eval steps, {dataset}")
    has_samples = figures.plot_sample_montage(
        os.path.join(folder, samples),
        {a: figures.sample_grids(runs[0].workdir, max_grids=4) for a, runs in by_algo.items()},
        title=f"samples of seed {by_algo[next(iter(by_algo))][0].seeds[0]}, {dataset}")
    md += ["", f"### {dataset}", "", lib.markdown_table(header, rows),
           f"![curves]({_link(folder, curves)}) ![loss vs FID]({_link(folder, scatter)})"]
    if has_samples:
      md.append(f"\n![samples]({_link(folder, samples)})")
    if {"dcgan", "wgan", "wgan_gp"} <= set(by_algo):
      section.claims += [
          (f"Seed 000 ({dataset}): WGAN-GP has the highest mean classifier score",
           *lib.claim_extreme(mean_score, ["wgan_gp"], best=True, higher_is_better=True)),
          (f"Seed 000 ({dataset}): WGAN has the lowest mean classifier score",
           *lib.claim_extreme(mean_score, ["wgan"], best=False, higher_is_better=True)),
          (f"Seed 000 ({dataset}): WGAN / WGAN-GP losses track sample quality (Spearman of "
           "-D loss with FID >= 0.5), DCGAN's do not (|rho| < 0.5)",
           *lib.claim_tracking(rhos, tracking=("wgan", "wgan_gp"), not_tracking=("dcgan",)))]
  section.markdown = "\n".join(md)
  _write(folder, "seed000.md", section.markdown)
  return section


# --- seed 004 ----------------------------------------------------------------------------------


def seed004_section(opts, folder: str, cells: dict[str, list[Run]]) -> Section:
  """MLP GANs on mnist_5k: final FID / precision / recall / wall time / divergence."""
  os.makedirs(folder, exist_ok=True)
  section = Section("seed004", "", runs=[("seed004", r) for c in cells.values() for r in c])
  header = ["algo", "objective", "G steps", "final FID", "final precision", "final recall",
            "final score", "wall s (all seeds)", "status"]
  rows, fid = [], {}
  warm_steps = cells["fgan_js_warmup"][0].num_steps if "fgan_js_warmup" in cells else 0
  for algo, runs in cells.items():
    cfg = run_config(runs[0])
    fid[algo] = lib.final_values(runs, "eval/fid")
    steps = str(runs[0].num_steps) + (f" (+{warm_steps} JS warm-up)" if algo.endswith("_warm")
                                      else "")
    rows.append([algo, cfg.get("objective", "?"), steps, lib.fmt(fid[algo], digits=1),
                 lib.fmt(lib.final_values(runs, "eval/precision"), digits=3),
                 lib.fmt(lib.final_values(runs, "eval/recall"), digits=3),
                 lib.fmt(lib.final_values(runs, "eval/score")), _seconds(runs),
                 lib.status_text(runs)])
  floor = floor_cells(list(cells.values()))
  rows.append(["real-vs-real floor", "–", "–", floor[1], floor[2], floor[3], floor[0], "–",
               "–"])
  names = [a for a in cells if a != "fgan_js_warmup"]
  floor_fid = floor_values(list(cells.values()), "fid")
  figures.plot_bars(os.path.join(folder, "fid.png"), {a: fid[a] for a in names},
                    ylabel="final FID (in-domain features)",
                    floor=float(floor_fid.mean()) if len(floor_fid) else None,
                    title="seed 004 MLP GANs on mnist_5k")
  has_samples = figures.plot_sample_montage(
      os.path.join(folder, "samples.png"),
      {a: figures.sample_grids(cells[a][0].workdir, max_grids=2) for a in names},
      title="samples (first seed)")
  md = ["## Seed 004: MLP GANs on mnist_5k", "",
        "Final = at the last generator step, mean ± std over the seeds that finished; a run "
        "stopped by a non-finite loss is listed with its step (vmapped seeds, if used, stop "
        "together). "
        "The `_warm` runs start from the same seed's `fgan_js_warmup` run (6 epochs of JS "
        "f-GAN at lr/100, lr/10, lr).", "", lib.markdown_table(header, rows),
        f"![FID]({_link(folder, 'fid.png')})"]
  if has_samples:
    md.append(f"\n![samples]({_link(folder, 'samples.png')})")
  headline = {a: fid[a] for a in HEADLINE_004 if a in fid}
  if len(headline) == len(HEADLINE_004):
    section.claims += [
        ("Seed 004: WGAN-GP has the best FID (of vanilla, KL, reverse KL, WGAN-WC, WGAN-GP)",
         *lib.claim_extreme(headline, ["wgan_gp"], best=True, higher_is_better=False)),
        ("Seed 004: reverse-KL f-GAN and WGAN-WC have the worst FIDs",
         *lib.claim_extreme(headline, ["fgan_reverse_kl_warm", "wgan_wc"], best=False,
                            higher_is_better=False))]
  if "fgan_kl" in cells and "fgan_kl_warm" in cells:
    section.claims.append(("Seed 004: the KL f-GAN explodes without the JS warm start",
                           *lib.claim_divergence(cells["fgan_kl"], cells["fgan_kl_warm"])))
  section.markdown = "\n".join(md)
  _write(folder, "seed004.md", section.markdown)
  return section


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


def dirac_section(opts, folder: str, *, log: Callable[[str], None]) -> Section:
  """Dirac-GAN verdicts (deterministic) and 2-D mode coverage, R1 vs none, per seed."""
  section = Section("dirac", "")
  config = dirac_gan.get_config("runlocal" if opts.smoke else "dynamics")
  dyn = os.path.join(folder, "dynamics")
  _cached_lab(config, dyn, "verdicts.json", log=log)
  with open(os.path.join(dyn, "verdicts.json")) as f:
    verdicts = json.load(f)
  with open(os.path.join(dyn, "verdicts.md")) as f:
    verdict_md = f.read()
  wrong = [v["method"] for v in verdicts if v["converges"] != v["paper_converges"]]
  section.claims.append((
      "Mescheder et al.: which methods converge locally on the Dirac-GAN (unregularized, "
      "WGAN, WGAN-GP, DRAGAN no; instance noise, consensus, gradient penalties, R1, R2 yes)",
      lib.DISAGREES if wrong else lib.AGREES,
      f"our verdict differs for {', '.join(wrong)}" if wrong else
      f"all {len(verdicts)} methods checked give the paper's verdict"))
  summaries = []
  for seed in range(opts.seeds):
    mcfg = dirac_gan.get_config("modes_runlocal" if opts.smoke else "modes")
    mcfg.modes.train.seed = seed
    mcfg.modes.num_steps = opts.modes_steps
    mcfg.modes.datasets = tuple(opts.modes_datasets)
    seed_dir = os.path.join(folder, "modes", f"seed_{seed}")
    _cached_lab(mcfg, seed_dir, "modes.json", log=log)
    with open(os.path.join(seed_dir, "modes.json")) as f:
      summaries += [dict(s, seed=seed) for s in json.load(f)]
  rows, covered = [], {}
  for key in dict.fromkeys((s["dataset"], s["penalty"], s["gamma"]) for s in summaries):
    group = [s for s in summaries if (s["dataset"], s["penalty"], s["gamma"]) == key]
    covered[key] = np.asarray([s["covered_modes"] for s in group], np.float64)
    reg = "none" if key[1] == "none" else f"{key[1]} γ={key[2]:g}"
    rows.append([key[0], reg, f"{lib.fmt(covered[key])} / {group[0]['num_modes']}",
                 " ".join(str(s["covered_modes"]) for s in group),
                 lib.fmt(np.asarray([s["covered_modes_loose"] for s in group], float)),
                 lib.fmt(100 * np.asarray([s["high_quality"] for s in group]), digits=1),
                 str(group[0]["steps"]), f"{sum(s['seconds'] for s in group):.0f}"])
  for dataset in dict.fromkeys(k[0] for k in covered):
    none = covered.get((dataset, "none", 0.0), np.zeros(0))
    for key in [k for k in covered if k[0] == dataset and k[1] == "r1"]:
      c = lib.compare(covered[key], none, higher_is_better=True)
      verdict = {1: lib.AGREES, -1: lib.DISAGREES, 0: lib.INCONCLUSIVE}[c]
      section.claims.append((
          f"Mescheder 2-D follow-up ({dataset}): R1 (γ={key[2]:g}) covers more modes than "
          "the unregularized GAN", verdict,
          f"covered modes {lib.fmt(covered[key])} vs {lib.fmt(none)} over {len(none)} seeds"))
  header = ["dataset", "regularizer", "covered modes (3 std)", "per seed",
            f"covered (loose, {summaries[0]['loose_num_std']:g} std)" if summaries else "loose",
            "high-quality samples %", "steps", "wall s (all seeds)"]
  scatters = sorted(f for f in os.listdir(os.path.join(folder, "modes", "seed_0"))
                    if f.endswith(".png")) if opts.seeds else []
  md = ["## Mescheder et al. 2018: Dirac-GAN and 2-D mode coverage", "",
        f"Verdicts (deterministic: eigenvalues at the equilibrium and simulated updates from "
        f"a grid of starts; config `experiments/dirac_gan.py"
        f"{':runlocal' if opts.smoke else ''}`):", "", verdict_md,
        f"![Dirac-GAN]({_link(folder, 'dynamics/dirac_gan.png')})", "",
        f"Mode coverage (MLP GAN of experiments/toy_ring.py, Adam 5e-4, {opts.modes_steps} "
        f"steps, {opts.seeds} seeds; a mode is covered by >= 20 of the samples within 3 std):",
        "", lib.markdown_table(header, rows),
        " ".join(f"![{f}]({_link(folder, 'modes/seed_0/' + f)})" for f in scatters)]
  section.markdown = "\n".join(md)
  _write(folder, "dirac.md", section.markdown)
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
