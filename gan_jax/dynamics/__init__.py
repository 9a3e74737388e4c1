"""Game dynamics of GAN training: the Dirac-GAN and the bilinear x*y game.

Public API (see `dirac` and `analysis` for details):
  vector_field(method, params)            update direction, [..., 2] -> [..., 2]
  jacobian_eigenvalues(method, point)     eigenvalues at (theta, psi), float64
  update_spectral_radius(method, lr=...)  discrete update operator's radius
  simulate(method, init, steps, lr, mode='simultaneous'|'alternating')
                                          trajectories [N, steps + 1, 2]
  verdict(method, ...), verdict_table(..., ac_verdicts=...)
  METHODS, get_method, Hparams, initial_grid
Every function takes `hparams`; `Hparams(data_std=s)` with s > 0 is the
absolutely continuous case (p_data = N(0, s^2), p_theta = N(theta, s^2)),
the default data_std = 0 the Dirac case.

Entry point: `python -m gan_jax.dynamics.lab --config=experiments/dirac_gan.py
--workdir=DIR` (see `lab`). The figure lives in `plots` (not imported here).
The 2-D mode-coverage follow-up is ordinary training: experiments/toy_modes.py.
"""

from gan_jax.dynamics.analysis import Verdict
from gan_jax.dynamics.analysis import bilinear_field
from gan_jax.dynamics.analysis import gradient_play_trajectory
from gan_jax.dynamics.analysis import rk4_trajectory
from gan_jax.dynamics.analysis import verdict
from gan_jax.dynamics.analysis import verdict_table
from gan_jax.dynamics.dirac import EQUILIBRIUM
from gan_jax.dynamics.dirac import Hparams
from gan_jax.dynamics.dirac import METHODS
from gan_jax.dynamics.dirac import Method
from gan_jax.dynamics.dirac import d_loss
from gan_jax.dynamics.dirac import g_loss
from gan_jax.dynamics.dirac import get_method
from gan_jax.dynamics.dirac import initial_grid
from gan_jax.dynamics.dirac import jacobian
from gan_jax.dynamics.dirac import jacobian_eigenvalues
from gan_jax.dynamics.dirac import make_update
from gan_jax.dynamics.dirac import make_vector_field
from gan_jax.dynamics.dirac import simulate
from gan_jax.dynamics.dirac import update_spectral_radius
from gan_jax.dynamics.dirac import vector_field
