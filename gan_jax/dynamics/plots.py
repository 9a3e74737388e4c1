"""Figures for the dynamics lab: vector-field streamplots with trajectories.

`save_dirac_figure` draws one panel per Dirac-GAN method (as in Figure 1 of
Mescheder et al. 2018): the streamlines of the update field over
(theta, psi), coloured by speed, the discrete trajectories from a few starting
points, the equilibrium (0, 0), and the verdict in the title. An optional last
panel shows the bilinear game V(x, y) = x y: its RK4 flow (a circle) and
simultaneous / alternating gradient steps. matplotlib runs with the Agg
backend; nothing is shown on screen.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import jax
import numpy as np

from gan_jax.dynamics import analysis
from gan_jax.dynamics import dirac


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _streamplot(ax, field_values: np.ndarray, axis: np.ndarray) -> None:
  """Streamlines of a field sampled on the grid axis x axis.

  Args:
    ax: matplotlib axes.
    field_values: [n, n, 2] with [i, j] at (x = axis[j], y = axis[i]).
    axis: [n].
  """
  u, v = field_values[..., 0], field_values[..., 1]
  speed = np.hypot(u, v)
  ax.streamplot(axis, axis, u, v, color=np.log1p(speed), cmap="Blues",
                density=1.1, linewidth=0.7, arrowsize=0.8)


def _decorate(ax, *, limit: float, title: str, color: str,
              xlabel: str = "θ", ylabel: str = "ψ") -> None:
  ax.plot([0.0], [0.0], marker="*", color="black", markersize=10, zorder=5)
  ax.set_xlim(-limit, limit)
  ax.set_ylim(-limit, limit)
  ax.set_aspect("equal")
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title, color=color, fontsize=10)


def _mesh(limit: float, num: int) -> tuple[np.ndarray, np.ndarray]:
  axis = np.linspace(-limit, limit, num)
  x, y = np.meshgrid(axis, axis)  # [i, j] = (axis[j], axis[i])
  return axis, np.stack([x, y], axis=-1)


def dirac_panel(ax, method: str | dirac.Method, *, hparams: dirac.Hparams,
                inits: np.ndarray, lr: float, steps: int, mode: str,
                limit: float, verdict: analysis.Verdict | None = None,
                num_mesh: int = 41) -> None:
  """Draws one method's field and trajectories into `ax`.

  Args:
    ax: matplotlib axes.
    method: a `dirac.METHODS` name or a `dirac.Method`.
    hparams: regularization strengths.
    inits: starting points [N, 2] of the drawn trajectories.
    lr, steps, mode: the discrete updates (see `dirac.simulate`).
    limit: the panel shows [-limit, limit]^2.
    verdict: if given, its `converges` goes into the title.
    num_mesh: field samples per axis.
  """
  method = dirac.get_method(method)
  axis, mesh = _mesh(limit, num_mesh)
  values = np.asarray(dirac.vector_field(method, mesh, hparams=hparams))
  _streamplot(ax, values, axis)
  if method.weight_clip:
    for sign in (1.0, -1.0):
      ax.axhspan(sign * hparams.clip, sign * limit, color="0.85", zorder=0)
  paths = np.asarray(dirac.simulate(method, inits, steps, lr, mode=mode,
                                    hparams=hparams))
  for path in paths:
    ax.plot(path[:, 0], path[:, 1], color="tab:red", linewidth=1.0, zorder=4)
    ax.plot(path[0, 0], path[0, 1], "o", color="tab:red", markersize=3, zorder=4)
  title, color = method.title, "black"
  if verdict is not None:
    title += " ✓" if verdict.converges else " ✗"
    color = "tab:green" if verdict.converges else "tab:red"
  _decorate(ax, limit=limit, title=title, color=color)


def bilinear_panel(ax, *, init: Sequence[float], lr: float, steps: int,
                   dt: float, limit: float, num_mesh: int = 41) -> None:
  """The x y game: streamlines, RK4 flow, simultaneous and alternating steps."""
  axis, mesh = _mesh(limit, num_mesh)
  values = np.asarray(jax.vmap(analysis.bilinear_field)(mesh.reshape(-1, 2)))
  _streamplot(ax, values.reshape(mesh.shape), axis)
  flow = np.asarray(analysis.rk4_trajectory(
      analysis.bilinear_field, np.asarray(init), dt=dt,
      steps=int(round(2 * math.pi / dt))))
  ax.plot(flow[:, 0], flow[:, 1], color="tab:blue", linewidth=1.5,
          label="flow (RK4)")
  for mode, color in (("simultaneous", "tab:red"), ("alternating", "tab:orange")):
    path = np.asarray(analysis.gradient_play_trajectory(
        analysis.bilinear_field, np.asarray(init), lr=lr, steps=steps, mode=mode))
    ax.plot(path[:, 0], path[:, 1], color=color, linewidth=0.8, label=mode)
  ax.legend(loc="lower left", fontsize=6)
  _decorate(ax, limit=limit, title="V(x, y) = x y", color="black",
            xlabel="x", ylabel="y")


def save_dirac_figure(path: str, *, methods: Sequence[str],
                      hparams: dirac.Hparams, inits: np.ndarray, lr: float,
                      steps: int, mode: str, limit: float,
                      verdicts: Mapping[str, analysis.Verdict] | None = None,
                      bilinear: Mapping[str, float] | None = None,
                      num_cols: int = 4) -> str:
  """Writes the one-panel-per-method figure as a PNG.

  Args:
    path: output file.
    methods: `dirac.METHODS` names, one panel each.
    hparams, inits, lr, steps, mode, limit: see `dirac_panel`.
    verdicts: method name -> `Verdict`, for the panel titles.
    bilinear: if given, an extra x y panel with keys init_x, init_y, lr,
      steps, dt, limit.
    num_cols: panels per row.

  Returns:
    path.
  """
  plt = _pyplot()
  num_panels = len(methods) + (bilinear is not None)
  num_rows = math.ceil(num_panels / num_cols)
  fig, axes = plt.subplots(num_rows, num_cols,
                           figsize=(3.2 * num_cols, 3.3 * num_rows),
                           squeeze=False)
  flat = axes.ravel()
  for ax, name in zip(flat, methods):
    dirac_panel(ax, name, hparams=hparams, inits=inits, lr=lr, steps=steps,
                mode=mode, limit=limit,
                verdict=None if verdicts is None else verdicts.get(name))
  if bilinear is not None:
    bilinear_panel(flat[len(methods)],
                   init=(bilinear["init_x"], bilinear["init_y"]),
                   lr=bilinear["lr"], steps=int(bilinear["steps"]),
                   dt=bilinear["dt"], limit=bilinear["limit"])
  for ax in flat[num_panels:]:
    ax.axis("off")
  fig.suptitle(f"Dirac-GAN vector fields ({mode} gradient descent, lr {lr:g}, "
               f"{steps} steps, γ {float(hparams.gamma):g}, "
               f"σ {float(hparams.noise_std):g}, clip {hparams.clip:g})")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
