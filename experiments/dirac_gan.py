"""Dirac-GAN dynamics lab (Mescheder, Geiger & Nowozin 2018).

  python -m gan_jax.dynamics.lab --config=experiments/dirac_gan.py --workdir=DIR

Args (after the colon): `[<lab>][,runlocal]`
  dynamics (default)  verdict table + one streamplot panel per method.
  parallel_lines      the WGAN paper's parallel lines: JS, KL, reverse KL and
                      W1 against theta, and the gradient a trained D / critic
                      gives G at each theta (21 thetas in [-1, 1], 1,000 Adam
                      steps of D at each).
  runlocal            2 methods, a tiny grid and few steps (or 3 thetas).
The 2-D follow-up (do these regularizers help a real GAN cover modes?) is
ordinary training: experiments/toy_modes.py.

One `gamma` serves every regularizer (penalty weight with the step's gamma/2
convention for r1 / r2 / gp_roth, consensus gamma); `noise_std` is the
instance-noise sigma and `clip` the WGAN clipping bound. Every method is
judged twice: in the Dirac case (the paper's general column) and in the a.c.
case with p_data = N(0, s^2), p_theta = N(theta, s^2), s = `data_std` (the
paper's "a.c. case" column); the unregularized GAN's a.c. eigenvalues are then
-s^2/4 +- sqrt(s^4/16 - 1/4), -1/4 +- 0.433i for s = 1. With gamma = 0.5 the
R1 / R2 eigenvalues are -1/4 +- 0.433i (underdamped spirals; critical damping
is gamma = 1 for f'(0) = 1/2).
"""

from __future__ import annotations

import ml_collections

from gan_jax.configs import args

ALL_METHODS = ("minimax", "non_saturating", "wgan", "wgan_gp", "dragan",
               "instance_noise", "consensus", "gp_roth", "zero_centered",
               "r1", "r2")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The lab config for `arg` (see the module docstring)."""
  values, runlocal = args.parse(
      arg, fields=[("lab", ("dynamics", "parallel_lines"), "dynamics")], where="dirac_gan.py")
  config = ml_collections.ConfigDict()
  config.lab = values["lab"]

  # Dirac-GAN dynamics.
  config.methods = ALL_METHODS
  config.gamma = 0.5
  config.noise_std = 1.0
  config.clip = 1.0
  config.num_quadrature = 20       # Gauss-Hermite nodes (instance noise, a.c. case)
  # a.c. case: std s of p_data = N(0, s^2) and p_theta = N(theta, s^2) (same
  # linear D); the general (Dirac) column uses s = 0. Must be > 0.
  config.data_std = 1.0
  config.lr = 0.1
  config.steps = 2000               # simulated updates per initial point
  config.mode = "alternating"       # simultaneous | alternating (D first)
  config.grid = ml_collections.ConfigDict(dict(low=-2.0, high=2.0, num=9))
  config.sim_tol = 1e-2             # final distance counted as converged
  config.plot = ml_collections.ConfigDict(dict(
      limit=2.5,
      inits=((1.5, 1.5), (-0.5, 0.5)),
      steps=600,                    # drawn trajectory length
      bilinear=ml_collections.ConfigDict(dict(
          init_x=1.0, init_y=1.0, lr=0.1, steps=150, dt=0.01, limit=2.5)),
  ))

  # The parallel lines (P0 on x = 0, P_theta on x = theta).
  config.parallel_lines = ml_collections.ConfigDict(dict(
      theta_max=1.0, num_thetas=21, steps=1000, batch_size=256, hidden=(64, 64), seed=0))

  if runlocal:
    config.parallel_lines.update(num_thetas=3, steps=20, hidden=(8,))
    config.methods = ("non_saturating", "r1")
    config.steps = 50
    config.grid.num = 3
    config.plot.steps = 20
  return config
