"""Tests for gan_jax.dynamics: the Dirac-GAN built from the project's losses and
penalties against Mescheder et al.'s closed forms, the verdict table against
the paper's general-case column, and the bilinear x*y game."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import dynamics
from gan_jax.dynamics import analysis
from gan_jax.dynamics import dirac
from gan_jax.dynamics import lab

F_PRIME_0 = 0.5  # f'(0) for the logistic objectives; 1 for WGAN's linear f.
# Mescheder, Geiger & Nowozin 2018, local convergence in the general case.
PAPER = {
    "minimax": False, "non_saturating": False, "wgan": False,
    "wgan_gp": False, "dragan": False, "instance_noise": True,
    "consensus": True, "gp_roth": True, "zero_centered": True, "r1": True,
    "r2": True,
}
GAMMAS = [0.3, 0.5, 1.0, 2.0, 5.0]


def _pair(center: complex, root: complex) -> np.ndarray:
  """Closed-form eigenvalues center +- root, sorted like jacobian_eigenvalues."""
  return np.sort_complex(np.array([center + root, center - root]))


def _regularized_eigenvalues(damping: float) -> np.ndarray:
  """Eigenvalues of [[0, a], [-a, -damping]] with a = f'(0)."""
  half = damping / 2
  return _pair(-half, np.sqrt(complex(half**2 - F_PRIME_0**2)))


def test_registry_lists_paper_methods_and_rejects_unknown_names():
  assert sorted(PAPER) == dirac.METHODS.names()
  with pytest.raises(ValueError, match="r1, r2"):
    dynamics.vector_field("r3", jnp.zeros(2))
  with pytest.raises(ValueError, match="simultaneous, alternating"):
    dynamics.simulate("r1", jnp.ones(2), 3, 0.1, mode="sequential")


def test_verdict_table_equals_papers_general_case():
  grid = dirac.initial_grid(low=-2.0, high=2.0, num=5)
  hparams = dirac.Hparams(gamma=0.5, noise_std=1.0, clip=1.0)
  verdicts = [analysis.verdict(name, hparams=hparams, lr=0.1, steps=2000,
                               mode="alternating", grid=grid)
              for name in PAPER]
  assert {v.method: v.converges for v in verdicts} == PAPER
  for v in verdicts:
    assert v.paper_converges == PAPER[v.method]
    # Simulation agrees with the verdict for every method, smooth or not, and
    # so does the discrete operator for lr 0.1.
    assert v.simulated == PAPER[v.method], v
    assert v.discrete == PAPER[v.method], v
  table = analysis.verdict_table(verdicts, lr=0.1, mode="alternating", steps=2000)
  assert table.count("\n") == len(PAPER) + 2
  assert "| R1 (`r1`) | -0.25 ± 0.433i | yes |" in table


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_unregularized_eigenvalues_are_imaginary(name):
  eigenvalues = dynamics.jacobian_eigenvalues(name)
  np.testing.assert_allclose(eigenvalues, _pair(0, 1j * F_PRIME_0), atol=1e-12)


@pytest.mark.parametrize("name", ["r1", "r2"])
def test_r1_r2_eigenvalues_match_closed_form(name):
  for gamma in GAMMAS:  # Complex below the critical gamma = 2 f'(0) = 1, real above.
    eigenvalues = dynamics.jacobian_eigenvalues(
        name, hparams=dirac.Hparams(gamma=gamma))
    expected = _pair(-gamma / 2, np.sqrt(complex(gamma**2 / 4 - F_PRIME_0**2)))
    np.testing.assert_allclose(eigenvalues, expected, atol=1e-6)


def test_other_regularizers_match_closed_forms():
  for gamma in GAMMAS:
    hp = dirac.Hparams(gamma=gamma, noise_std=math.sqrt(gamma))
    # Project convention: zero_centered weighs by gamma, not gamma / 2.
    np.testing.assert_allclose(dynamics.jacobian_eigenvalues("zero_centered", hparams=hp),
                               _regularized_eigenvalues(2 * gamma), atol=1e-6)
    # Roth's weights (1 - D(0))^2 = D(theta)^2 = 1/4 at the equilibrium.
    np.testing.assert_allclose(dynamics.jacobian_eigenvalues("gp_roth", hparams=hp),
                               _regularized_eigenvalues(gamma / 2), atol=1e-6)
    # Instance noise: -sigma^2/4 +- sqrt(sigma^4/16 - f'(0)^2) (f''(0) = -1/4).
    np.testing.assert_allclose(dynamics.jacobian_eigenvalues("instance_noise", hparams=hp),
                               _regularized_eigenvalues(hp.noise_std**2 / 2), atol=1e-6)
    # Consensus: J - gamma J^T J = -gamma f'(0)^2 +- f'(0) i.
    np.testing.assert_allclose(dynamics.jacobian_eigenvalues("consensus", hparams=hp),
                               _pair(-gamma * F_PRIME_0**2, 1j * F_PRIME_0), atol=1e-6)
  np.testing.assert_allclose(dynamics.jacobian_eigenvalues("wgan"), _pair(0, 1j), atol=1e-12)


def test_vector_fields_match_closed_forms_away_from_equilibrium():
  points = jax.random.normal(jax.random.PRNGKey(0), (7, 2), jnp.float32) * 1.5
  theta, psi = points[:, 0], points[:, 1]
  sig = jax.nn.sigmoid
  d_part = -theta * sig(psi * theta)  # -d/dpsi [softplus(0) + softplus(psi theta)]
  hp = dirac.Hparams(gamma=0.7)
  expected = {
      "minimax": (psi * sig(psi * theta), d_part),
      "non_saturating": (psi * sig(-psi * theta), d_part),
      "wgan": (psi, -theta),
      "r1": (psi * sig(-psi * theta), d_part - 0.7 * psi),
      "r2": (psi * sig(-psi * theta), d_part - 0.7 * psi),
  }
  for name, (v_theta, v_psi) in expected.items():
    field = dynamics.vector_field(name, points.reshape(7, 1, 2), hparams=hp)
    assert field.shape == (7, 1, 2)
    np.testing.assert_allclose(field[:, 0], jnp.stack([v_theta, v_psi], 1),
                               rtol=1e-5, atol=1e-6, err_msg=name)


def test_simulate_shapes_modes_and_clipping():
  hp = dirac.Hparams(clip=0.3)
  single = dynamics.simulate("wgan", jnp.array([1.0, 0.2]), 40, 0.1, hparams=hp)
  assert single.shape == (41, 2)
  np.testing.assert_allclose(single[0], [1.0, 0.2])
  batch = dynamics.simulate("wgan", dirac.initial_grid(low=-1, high=1, num=3), 40,
                            0.1, mode="alternating", hparams=hp)
  assert batch.shape == (9, 41, 2)
  assert float(jnp.max(jnp.abs(batch[:, 1:, 1]))) <= 0.3 + 1e-7
  # One alternating step: D first, then G from the new psi.
  with jax.enable_x64(True):
    start = jnp.array([0.8, -0.4])
    step = dynamics.simulate("minimax", start, 1, 0.2, mode="alternating")[1]
    psi = -0.4 - 0.2 * 0.8 * jax.nn.sigmoid(-0.32)
    theta = 0.8 + 0.2 * psi * jax.nn.sigmoid(0.8 * psi)
    np.testing.assert_allclose(step, [theta, psi], rtol=1e-12)


def test_bilinear_game_circles_in_continuous_time_and_grows_when_discrete():
  with jax.enable_x64(True):
    init = jnp.array([1.0, 0.5])
    radius = float(jnp.linalg.norm(init))
    flow = analysis.rk4_trajectory(analysis.bilinear_field, init, dt=0.01, steps=3000)
    norms = jnp.linalg.norm(flow, axis=1)
    np.testing.assert_allclose(norms, radius, rtol=1e-8)
    assert float(jnp.max(jnp.abs(flow[:, 0]))) > 0.99 * radius  # it goes round
    lr, steps = 0.1, 300
    play = analysis.gradient_play_trajectory(analysis.bilinear_field, init, lr=lr,
                                             steps=steps)
    norms = jnp.linalg.norm(play, axis=1)
    assert bool(jnp.all(jnp.diff(norms) > 0))
    np.testing.assert_allclose(norms[-1], radius * (1 + lr**2) ** (steps / 2), rtol=1e-10)


def test_lab_runlocal_writes_table_and_figure(tmp_path):
  from experiments import dirac_gan  # pylint: disable=g-import-not-at-top
  config = dirac_gan.get_config("runlocal")
  verdicts = lab.run(config, str(tmp_path))
  assert [v.method for v in verdicts] == ["non_saturating", "r1"]
  assert [v.converges for v in verdicts] == [False, True]
  table = (tmp_path / "verdicts.md").read_text()
  assert table.startswith("| method | eigenvalues | continuous verdict |")
  assert len(json.loads((tmp_path / "verdicts.json").read_text())) == 2
  assert os.path.getsize(tmp_path / "dirac_gan.png") > 10_000
  with pytest.raises(ValueError, match=r"expected '\[<lab>\]\[,runlocal\]' with lab in dynamics"):
    dirac_gan.get_config("dynamic")
  config.lab = "modes"  # the 2-D follow-up is training now (experiments/toy_modes.py)
  with pytest.raises(ValueError, match="valid choices: dynamics"):
    lab.run(config, str(tmp_path))
