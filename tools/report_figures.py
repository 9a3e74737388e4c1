"""Figures of `tools/report.py` (matplotlib, Agg): curves with seed bands,
loss-vs-FID scatters, sample-grid montages and a bar chart.

Every function takes the report's `report_lib.Run` lists and writes one PNG.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np

from tools import report_lib
from gan_jax import viz


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _finish(plt, fig, path: str, *, suptitle: str = "") -> None:
  """Titles, lays out, saves at 100 dpi and closes `fig`."""
  if suptitle:  # 0.15 in below the top edge, whatever the figure's height
    fig.suptitle(suptitle, y=1 - 0.15 / fig.get_figheight(), va="top")
  fig.tight_layout()
  if suptitle:  # keep half an inch for the title above the panels' own titles
    fig.subplots_adjust(top=min(fig.subplotpars.top, 1 - 0.5 / fig.get_figheight()))
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_cell_curves(path: str, cells: dict[str, Sequence[report_lib.Run]], *,
                     panels: Sequence[tuple[str, str]], title: str,
                     min_smooth_points: int = 7, log_keys: Sequence[str] = (),
                     step_scale: dict[str, float] | None = None,
                     xlabel: str = "generator step") -> None:
  """One panel per (key, panel title): per cell the seed mean with a +-1 std band,
  the Savitzky-Golay smoothed mean (`viz.savgol`) when a cell has at least
  `min_smooth_points` points, and the floor (`floor/...`) as a dashed line.
  Keys in `log_keys` get a log y axis; a cell's steps are multiplied by its
  `step_scale` entry (e.g. critic steps per generator step, for an x axis of
  D batches).
  """
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
  for ax, (key, panel_title) in zip(axes[0], panels):
    for name, runs in cells.items():
      steps, values = report_lib.series(runs, key)
      keep = np.isfinite(values).any(axis=0) if values.size else np.zeros(0, bool)
      if not keep.any():
        continue
      steps, values = steps[keep] * (step_scale or {}).get(name, 1.0), values[:, keep]
      mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
      smooth = len(steps) >= min_smooth_points
      line, = ax.plot(steps, mean, marker="o", ms=3, lw=1, alpha=0.5 if smooth else 1.0,
                      label=f"{name} (n={len(values)})")
      ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.15)
      if smooth:  # kept within the data's range (the cubic fit overshoots, e.g. below 0 modes)
        ax.plot(steps, np.clip(viz.savgol(mean), np.nanmin(mean), np.nanmax(mean)), lw=2,
                color=line.get_color())
    floor_key = key.replace("eval/", "floor/")
    floors = [v for runs in cells.values() for v in report_lib.series(runs, floor_key)[1].ravel()
              if np.isfinite(v)]
    if floors:
      ax.axhline(float(np.mean(floors)), color="k", ls="--", lw=1, label="real-vs-real floor")
    if key in log_keys:
      ax.set_yscale("log")
    ax.set_title(panel_title)
    ax.set_xlabel(xlabel)
    if len(cells) <= 4:
      ax.legend(fontsize=7)
  if len(cells) > 4:  # one legend beside the last panel, clear of the curves
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
  _finish(plt, fig, path, suptitle=title)


def plot_loss_vs_quality(path: str, cells: dict[str, Sequence[report_lib.Run]], *,
                         title: str) -> None:
  """Per cell, -d/loss at each eval step against FID (one colour per seed)."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(cells), figsize=(4 * len(cells), 3.4), squeeze=False)
  for ax, (name, runs) in zip(axes[0], cells.items()):
    loss_steps, loss = report_lib.series(runs, "d/loss")
    eval_steps, fid = report_lib.series(runs, "eval/fid")
    _, li, ei = np.intersect1d(loss_steps, eval_steps, return_indices=True)
    for s in range(len(fid)):
      ax.plot(-loss[s, li], fid[s, ei], marker="o", ms=3, lw=0.8, label=f"seed {s}")
    rho = report_lib.loss_quality_correlation(runs, method="spearman")
    ax.set_title(f"{name}: Spearman {report_lib.fmt(rho)}", fontsize=9)
    ax.set_xlabel("-d/loss (critic's estimate)")
    ax.set_ylabel("FID")
    ax.legend(fontsize=7)
  _finish(plt, fig, path, suptitle=title)


def sample_grids(workdir: str, *, max_grids: int) -> list[tuple[int, str]]:
  """Up to `max_grids` (step, png) of a run's `samples/step_*.png`, evenly spaced,
  always including the last."""
  folder = os.path.join(workdir, "samples")
  if not os.path.isdir(folder):
    return []
  found = sorted((int(m.group(1)), os.path.join(folder, f)) for f in os.listdir(folder)
                 if (m := re.fullmatch(r"step_(\d+)\.png", f)))
  if len(found) <= max_grids:
    return found
  if max_grids == 1:
    return found[-1:]
  picks = np.unique(np.linspace(0, len(found) - 1, max_grids).round().astype(int))
  return [found[i] for i in picks]


def plot_sample_montage(path: str, grids: dict[str, list[tuple[int, str]]], *,
                        title: str, grid_inches: float = 3.6) -> bool:
  """Rows = cells, columns = their sample grids (seed 0) with the step above;
  each grid `grid_inches` wide at 100 dpi (3.6: about 1.5 screen pixels per
  pixel of an 8 x 8 grid of 28 x 28 images, enough to judge strokes).

  Returns False (and writes nothing) when no cell has a grid.
  """
  grids = {k: v for k, v in grids.items() if v}
  if not grids:
    return False
  from PIL import Image  # pylint: disable=g-import-not-at-top
  plt = _pyplot()
  cols = max(len(v) for v in grids.values())
  fig, axes = plt.subplots(len(grids), cols, squeeze=False,
                           figsize=(grid_inches * cols, (grid_inches + 0.2) * len(grids)))
  for r, (name, items) in enumerate(grids.items()):
    for c in range(cols):
      ax = axes[r][c]
      ax.axis("off")
      if c < len(items):
        step, png = items[c]
        ax.imshow(np.asarray(Image.open(png)), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{name}, step {step}" if c == 0 else f"step {step}", fontsize=8)
  _finish(plt, fig, path, suptitle=title)
  return True


def plot_bars(path: str, values: dict[str, np.ndarray], *, ylabel: str, title: str,
              floor: float | None = None) -> None:
  """Bar per cell: mean over finite seeds, std error bar, seeds as dots; a cell
  without a finite seed is labelled "no finished seed"."""
  plt = _pyplot()
  names = list(values)
  fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names) + 2), 4))
  for i, name in enumerate(names):
    v = np.asarray(values[name], np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
      ax.text(i, 0, "no finished\nseed", ha="center", va="bottom", fontsize=7, rotation=90)
      continue
    ax.bar(i, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0, color="tab:blue",
           alpha=0.6, capsize=3)
    ax.plot(np.full(len(v), i), v, "k.", ms=4)
  if floor is not None and np.isfinite(floor):
    ax.axhline(floor, color="k", ls="--", lw=1, label="real-vs-real floor")
    ax.legend(fontsize=8)
  ax.set_xticks(range(len(names)))
  ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  _finish(plt, fig, path)
