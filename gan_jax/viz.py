"""Pictures: sample grids (PNG) and 2-D scatter plots.

Curves, animations and vector fields join this module as the evaluation and
dynamics work lands.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def image_grid(images: np.ndarray, *, num_cols: int | None = None, pad: int = 2) -> np.ndarray:
  """Tiles images [N, H, W, C] in [-1, 1] into one uint8 picture.

  Returns:
    uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad, C'] with C' = 3 for C = 3,
    else 1 channel squeezed to [.., ..] (greyscale).
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4:
    raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
  n, h, w, c = images.shape
  cols = num_cols or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
  pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
  for i in range(n):
    r, q = divmod(i, cols)
    grid[pad + r * (h + pad): pad + r * (h + pad) + h,
         pad + q * (w + pad): pad + q * (w + pad) + w] = pixels[i]
  return grid[..., 0] if c == 1 else grid


def save_image_grid(path: str, images: np.ndarray, *, scale: int = 3,
                    num_cols: int | None = None, pad: int = 2) -> None:
  """Writes `image_grid(images, num_cols=, pad=)` as a PNG, upscaled `scale`
  times (nearest)."""
  grid = Image.fromarray(image_grid(images, num_cols=num_cols, pad=pad))
  if scale > 1:
    grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
  grid.save(path)


def save_scatter(path: str, samples: np.ndarray, *, real: np.ndarray | None = None,
                 title: str = "", limit: float = 5.0) -> None:
  """Writes a scatter plot PNG of 2-D samples [N, 2] (and real data, if given)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(4, 4))
  if real is not None:
    ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:gray", alpha=0.4, label="real")
  ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.6, label="generated")
  ax.set_xlim(-limit, limit)
  ax.set_ylim(-limit, limit)
  ax.set_aspect("equal")
  ax.set_title(title)
  ax.legend(loc="upper right", markerscale=4, fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def save_samples(path: str, samples: np.ndarray, *, title: str = "",
                 real: np.ndarray | None = None) -> None:
  """Image grid for image samples [N, H, W, C]; scatter plot for points [N, 2]
  (over `real` points, if given)."""
  if samples.ndim == 2 and samples.shape[1] == 2:
    save_scatter(path, samples, real=real, title=title)
  else:
    save_image_grid(path, samples)


def savgol(values: np.ndarray, *, window: int = 53, order: int = 3) -> np.ndarray:
  """Savitzky-Golay smoothing as in seed 000 (window 53, order 3).

  Short series use the largest odd window that fits (still > order); series
  too short for any such window come back unchanged.
  """
  from scipy.signal import savgol_filter  # pylint: disable=g-import-not-at-top
  values = np.asarray(values, np.float64)
  w = min(window, len(values) if len(values) % 2 else len(values) - 1)
  if w <= order:
    return values
  return savgol_filter(values, w, order)


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
  pts = [(r["step"], r[key]) for r in rows
         if isinstance(r.get(key), (int, float)) and np.isfinite(r[key])]
  if not pts:
    return np.zeros(0), np.zeros(0)
  steps, values = zip(*pts)
  return np.asarray(steps), np.asarray(values, np.float64)


# (title, keys, smoothed?) per panel; a panel shows whichever keys a run logged.
CURVE_PANELS = (
    ("losses", ("d/loss", "g/loss"), False),
    ("D accuracy", ("d/accuracy",), False),
    ("gradient penalty", ("d/penalty",), False),
    ("classifier score", ("eval/score", "floor/score"), True),
    ("FID (in-domain features)", ("eval/fid", "floor/fid"), True),
    ("precision / recall", ("eval/precision", "eval/recall"), False),
    ("modes covered", ("eval/modes_covered",), False),
)


def plot_curves(path: str, rows: list[dict], *, title: str = "") -> list[str]:
  """Writes one figure of training curves; returns the panel titles drawn.

  Score and FID panels show the raw values and, where there are enough points,
  the Savitzky-Golay smoothed curve.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  def drawn(key):  # Logged, and not d/penalty of a run without a penalty.
    values = _series(rows, key)[1]
    return len(values) and (key != "d/penalty" or values.any())

  panels = [(t, [k for k in keys if drawn(k)], smooth) for t, keys, smooth in CURVE_PANELS]
  panels = [p for p in panels if p[1]]
  if not panels:
    return []
  fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
  for ax, (panel_title, keys, smooth) in zip(axes[0], panels):
    for key in keys:
      steps, values = _series(rows, key)
      line, = ax.plot(steps, values, lw=1, alpha=0.45 if smooth else 1.0,
                      ls="--" if key.startswith("floor/") else "-", label=key)
      if smooth and not key.startswith("floor/") and len(values) > 3:
        ax.plot(steps, savgol(values), lw=2, color=line.get_color(), label=f"{key} (SG 53/3)")
    ax.set_title(panel_title)
    ax.set_xlabel("generator step")
    ax.legend(fontsize=7)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return [p[0] for p in panels]


def samples_gif(path: str, frame_paths: list[str], *, seconds_per_frame: float = 0.5) -> None:
  """Assembles sample-grid PNGs (in order) into an animated GIF."""
  import imageio.v2 as imageio  # pylint: disable=g-import-not-at-top
  if not frame_paths:
    raise ValueError("no frames to assemble")
  frames = [np.asarray(Image.open(p).convert("RGB")) for p in frame_paths]
  h = max(f.shape[0] for f in frames)
  w = max(f.shape[1] for f in frames)
  frames = [np.pad(f, ((0, h - f.shape[0]), (0, w - f.shape[1]), (0, 0)), constant_values=255)
            for f in frames]
  imageio.mimsave(path, frames, duration=seconds_per_frame, loop=0)
