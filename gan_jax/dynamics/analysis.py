"""Verdicts on which Dirac-GAN training methods converge, and the x*y game.

A method's verdict combines three views of the dynamics near the equilibrium
(theta, psi) = (0, 0) of `gan_jax.dynamics.dirac`:

  continuous   all eigenvalues of the field's Jacobian have real part < -tol
               (gradient flow is locally *linearly* convergent). Real parts
               equal to 0 (a centre) mean no: the unregularized minimax flow
               keeps theta^2 + psi^2 constant; the non-saturating one shrinks
               it only sublinearly (d/dt |p|^2 / 2 = -theta psi
               tanh(theta psi / 2)), which is not local convergence either.
  discrete     the spectral radius of the update operator's Jacobian for the
               given learning rate and mode is < 1 - tol.
  simulated    the largest distance to the equilibrium after `steps` updates
               from every point of a grid of initialisations is < sim_tol.

`converges` is the continuous verdict for methods whose field is smooth at the
equilibrium and the simulated one otherwise (clipped WGAN; WGAN-GP and
DRAGAN, whose (|psi| - 1)^2 penalty has a kink at psi = 0).

The case is the game's (`dirac.Hparams.data_std`): 0 gives the verdict of
Mescheder et al.'s general (Dirac) column, s > 0 that of their "a.c. case"
column (p_data = N(0, s^2), p_theta = N(theta, s^2)), by the same rule;
`Verdict.paper_converges` is the paper's entry in the matching column, and
`verdict_table(general, ac_verdicts=ac)` puts the two columns side by side.

The lecture's bilinear game V(x, y) = x y (x minimises, y maximises) is here
too: its gradient-play field (-y, x) is built with `jax.grad`, integrated
with RK4 (the norm stays constant: the flow circles) and stepped with
simultaneous Euler updates (the norm grows by sqrt(1 + h^2) per step).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.dynamics import dirac

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Verdict:
  """The convergence evidence for one method.

  Attributes:
    method: registry name.
    title: display name.
    eigenvalues: complex [2], Jacobian of the field at the equilibrium.
    continuous: all real parts < -tol.
    spectral_radius: of the discrete update operator at the equilibrium.
    discrete: spectral radius < 1 - tol.
    simulated_distance: max over the grid of the final distance to (0, 0).
    simulated: simulated_distance < sim_tol.
    smooth: whether `converges` is the eigenvalue verdict.
    paper_converges: Mescheder et al.'s verdict for this case (general
      column for data_std 0, a.c. column otherwise).
    data_std: the game's case, `dirac.Hparams.data_std` (0: Dirac).
  """
  method: str
  title: str
  eigenvalues: np.ndarray
  continuous: bool
  spectral_radius: float
  discrete: bool
  simulated_distance: float
  simulated: bool
  smooth: bool
  paper_converges: bool
  data_std: float = 0.0

  @property
  def converges(self) -> bool:
    return self.continuous if self.smooth else self.simulated

  @property
  def absolutely_continuous(self) -> bool:
    return self.data_std > 0


def final_distances(trajectories: Array) -> np.ndarray:
  """Distance of each trajectory's last point to (0, 0); non-finite -> inf.

  Args:
    trajectories: [N, T + 1, 2].

  Returns:
    float64 [N].
  """
  last = np.asarray(trajectories, np.float64)[:, -1]
  distance = np.linalg.norm(last, axis=-1)
  return np.where(np.isfinite(distance), distance, np.inf)


def verdict(method: str | dirac.Method, *, hparams: dirac.Hparams, lr: float,
            steps: int, mode: str, grid: np.ndarray, tol: float = 1e-9,
            sim_tol: float = 1e-2) -> Verdict:
  """Eigenvalues, spectral radius and simulation for one method.

  Args:
    method: a `dirac.METHODS` name or a `dirac.Method`.
    hparams: regularization strengths and the case (`data_std`: 0 for the
      Dirac case, s > 0 for the a.c. case).
    lr: learning rate of the discrete updates.
    steps: number of simulated updates.
    mode: "simultaneous" or "alternating".
    grid: initial points [N, 2].
    tol: margin for the eigenvalue and spectral-radius tests.
    sim_tol: distance below which a simulation counts as converged.

  Returns:
    A `Verdict`.
  """
  method = dirac.get_method(method)
  eigenvalues = dirac.jacobian_eigenvalues(method, hparams=hparams)
  radius = dirac.update_spectral_radius(method, lr=lr, mode=mode, hparams=hparams)
  paths = dirac.simulate(method, grid, steps, lr, mode=mode, hparams=hparams)
  distance = float(np.max(final_distances(paths)))
  return Verdict(
      method=method.name, title=method.title, eigenvalues=eigenvalues,
      continuous=bool(np.all(eigenvalues.real < -tol)),
      spectral_radius=radius, discrete=radius < 1.0 - tol,
      simulated_distance=distance, simulated=distance < sim_tol,
      smooth=method.smooth,
      paper_converges=method.paper_verdict(
          absolutely_continuous=hparams.absolutely_continuous),
      data_std=float(hparams.data_std))


def format_eigenvalues(eigenvalues: np.ndarray, *, digits: int = 4) -> str:
  """'a +- b i' for a conjugate pair, 'a, b' for real ones."""
  eigenvalues = np.asarray(eigenvalues)
  def number(x: float) -> str:
    text = f"{x:.{digits}f}"
    return "0" if float(text) == 0 else text.rstrip("0").rstrip(".")
  if np.all(np.abs(eigenvalues.imag) > 0) and len(eigenvalues) == 2:
    return f"{number(eigenvalues[0].real)} ± {number(abs(eigenvalues[0].imag))}i"
  return ", ".join(number(e.real) for e in eigenvalues)


def _check_case(verdicts: Sequence[Verdict], *, ac: bool) -> None:
  wrong = [v.method for v in verdicts if v.absolutely_continuous != ac]
  if wrong:
    case = "a.c. (data_std > 0)" if ac else "Dirac (data_std = 0)"
    raise ValueError(f"expected {case} verdicts, got another case for {', '.join(wrong)}")


def verdict_table(verdicts: Sequence[Verdict], *, lr: float, mode: str,
                  steps: int,
                  ac_verdicts: Sequence[Verdict] | None = None) -> str:
  """The verdicts as a markdown table.

  Columns: method | eigenvalues | continuous verdict | discrete spectral
  radius | simulated distance | converges? | paper, all for the Dirac case;
  with `ac_verdicts` also a.c. eigenvalues | a.c. simulated distance | a.c.
  converges? | a.c. paper,
  followed by a paragraph naming the a.c. case and every method whose verdict
  differs from the paper's (with `Method.ac_note` for a.c. disagreements).

  Args:
    verdicts: Dirac-case verdicts (data_std 0), one per method.
    lr, mode, steps: the discrete updates, for the header.
    ac_verdicts: a.c. verdicts of the same methods in the same order, one
      data_std.

  Raises:
    ValueError: a verdict of the wrong case, or a.c. verdicts that do not
      match `verdicts` method for method or mix several data_std.
  """
  _check_case(verdicts, ac=False)
  yes_no = lambda b: "yes" if b else "no"
  header = (f"| method | eigenvalues | continuous verdict | discrete spectral radius "
            f"({mode}, lr {lr:g}) | simulated distance ({steps} steps) | converges? "
            f"| paper |")
  rule = "|---|---|---|---|---|---|---|"
  if ac_verdicts is not None:
    _check_case(ac_verdicts, ac=True)
    if [v.method for v in ac_verdicts] != [v.method for v in verdicts]:
      raise ValueError("ac_verdicts must list the methods of verdicts in the same order")
    stds = sorted({v.data_std for v in ac_verdicts})
    if len(stds) > 1:
      raise ValueError(f"ac_verdicts mix data_std values {stds}")
    data_std = stds[0] if stds else 0.0
    header += (f" a.c. eigenvalues (s = {data_std:g}) | a.c. simulated distance | "
               f"a.c. converges? | a.c. paper |")
    rule += "---|---|---|---|"
  lines = [header, rule]
  for i, v in enumerate(verdicts):
    basis = "eig" if v.smooth else "sim"
    line = (f"| {v.title} (`{v.method}`) | {format_eigenvalues(v.eigenvalues)} | "
            f"{yes_no(v.continuous)} | {v.spectral_radius:.6f} | "
            f"{v.simulated_distance:.3g} | **{yes_no(v.converges)}** ({basis}) | "
            f"{yes_no(v.paper_converges)} |")
    if ac_verdicts is not None:
      a = ac_verdicts[i]
      line += (f" {format_eigenvalues(a.eigenvalues)} | {a.simulated_distance:.3g} | "
               f"**{yes_no(a.converges)}** ({'eig' if a.smooth else 'sim'}) | "
               f"{yes_no(a.paper_converges)} |")
    lines.append(line)
  if ac_verdicts is None:
    return "\n".join(lines) + "\n"
  lines += ["", (
      f"a.c. case: the same game with p_data = N(0, s²) and p_θ = N(θ, s²), "
      f"s = {data_std:g}, and D(x) = ψx; expectations by Gauss-Hermite quadrature, "
      f"the verdict rule as above (eigenvalues where the field is smooth, else the "
      f"simulation from the same grid).")]
  disagreements = []
  for case, rows in (("general", verdicts), ("a.c.", ac_verdicts)):
    for v in rows:
      if v.converges != v.paper_converges:
        note = dirac.get_method(v.method).ac_note if v.absolutely_continuous else ""
        disagreements.append(
            f"- {v.title} (`{v.method}`), {case} case: {yes_no(v.converges)}, paper "
            f"{yes_no(v.paper_converges)}." + (f" {note}" if note else ""))
  lines += ["", "Disagreements with the paper:" if disagreements else
            "Every verdict, general and a.c., is the paper's."] + disagreements
  return "\n".join(lines) + "\n"


# --- The bilinear game V(x, y) = x y ------------------------------------------


def bilinear_value(z: Array) -> Array:
  """V(x, y) = x y for z = (x, y), [2] -> []."""
  return z[0] * z[1]


def bilinear_field(z: Array) -> Array:
  """Simultaneous gradient play on V: x descends, y ascends; [2] -> [2]."""
  grad = jax.grad(bilinear_value)(z)
  return jnp.stack([-grad[0], grad[1]])


def rk4_trajectory(field: Callable[[Array], Array], init: Array, *,
                   dt: float, steps: int) -> Array:
  """Classical Runge-Kutta integration of dz/dt = field(z).

  Args:
    field: [2] -> [2].
    init: [2].
    dt: time step.
    steps: number of steps.

  Returns:
    [steps + 1, 2], starting with init.
  """
  def body(z, _):
    k1 = field(z)
    k2 = field(z + 0.5 * dt * k1)
    k3 = field(z + 0.5 * dt * k2)
    k4 = field(z + dt * k3)
    z = z + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z, z
  init = jnp.asarray(init, jnp.result_type(float))
  _, path = jax.lax.scan(body, init, None, length=steps)
  return jnp.concatenate([init[None], path], axis=0)


def gradient_play_trajectory(field: Callable[[Array], Array], init: Array, *,
                             lr: float, steps: int,
                             mode: str = "simultaneous") -> Array:
  """Discrete gradient play z <- z + lr field(z) on a two-player game.

  Args:
    field: [2] -> [2], component 0 for the first player, 1 for the second.
    init: [2].
    lr: learning rate.
    steps: number of updates.
    mode: "simultaneous", or "alternating" (player 1 moves first, then
      player 0 from the new point, as D before G in training).

  Returns:
    [steps + 1, 2], starting with init.
  """
  dirac.check_mode(mode)
  def body(z, _):
    if mode == "simultaneous":
      z = z + lr * field(z)
    else:
      z = z.at[1].add(lr * field(z)[1])
      z = z.at[0].add(lr * field(z)[0])
    return z, z
  init = jnp.asarray(init, jnp.result_type(float))
  _, path = jax.lax.scan(body, init, None, length=steps)
  return jnp.concatenate([init[None], path], axis=0)
