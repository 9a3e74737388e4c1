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


def save_image_grid(path: str, images: np.ndarray, *, scale: int = 3) -> None:
  """Writes `image_grid(images)` as a PNG, upscaled `scale` times (nearest)."""
  grid = Image.fromarray(image_grid(images))
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


def save_samples(path: str, samples: np.ndarray, *, title: str = "") -> None:
  """Image grid for image samples [N, H, W, C], scatter plot for points [N, 2]."""
  if samples.ndim == 2 and samples.shape[1] == 2:
    save_scatter(path, samples, title=title)
  else:
    save_image_grid(path, samples)
