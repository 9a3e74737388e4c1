"""Tests for gan_jax.dynamics: the Dirac-GAN built from the project's losses and
penalties against Mescheder et al.'s closed forms, the verdict table against
the paper's general-case and a.c.-case columns, and the bilinear x*y game."""

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
# Mescheder et al. 2018, Table 1, local convergence in the a.c. case.
PAPER_AC = {
    "minimax": True, "non_saturating": True, "wgan": False, "wgan_gp": False,
    "dragan": True, "instance_noise": True, "consensus": True, "gp_roth": True,
    "zero_centered": True, "r1": True, "r2": True,
}
# What the lab finds in the a.c. case (p_data = N(0, 1), p_theta = N(theta, 1),
# D(x) = psi x): the paper's column except DRAGAN, whose penalty centred at 1
# keeps G at theta = +-4 gamma (see gan_jax.dynamics.dirac).
LAB_AC = dict(PAPER_AC, dragan=False)
GAMMAS = [0.3, 0.5, 1.0, 2.0, 5.0]
DATA_STDS = [0.3, 0.7, 1.0, 1.5, 2.5]  # complex eigenvalues below sqrt(2), real above


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


@pytest.mark.slow
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


def _ac_jacobian(data_std: float, *, damping: float = 0.0) -> np.ndarray:
  """The a.c. Jacobian at (0, 0) in the lab's sign convention (psi negated).

  For D(x) = psi x, f(t) = -log(1 + exp(-t)) and expectations over
  p_theta = N(theta, s^2) and p_data = N(0, s^2) (derivation in the
  gan_jax.dynamics.dirac docstring): [[0, f'(0)], [-f'(0), 2 s^2 f''(0)]] with
  f'(0) = 1/2, f''(0) = -1/4, so J[1, 1] = -s^2 / 2; a regularizer adds
  -damping to J[1, 1].
  """
  return np.array([[0.0, F_PRIME_0], [-F_PRIME_0, -data_std**2 / 2 - damping]])


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_ac_unregularized_eigenvalues_match_closed_form(name):
  for s in DATA_STDS:
    hp = dirac.Hparams(data_std=s)
    np.testing.assert_allclose(dynamics.jacobian(name, hparams=hp), _ac_jacobian(s),
                               atol=1e-12)
    # -s^2/4 +- sqrt(s^4/16 - f'(0)^2): real parts < 0 for every s > 0.
    expected = _pair(-s**2 / 4, np.sqrt(complex(s**4 / 16 - F_PRIME_0**2)))
    eigenvalues = dynamics.jacobian_eigenvalues(name, hparams=hp)
    np.testing.assert_allclose(eigenvalues, expected, atol=1e-7)
    assert np.all(eigenvalues.real < 0)
  # The Dirac case of the same Hparams is untouched: a centre.
  np.testing.assert_allclose(dynamics.jacobian_eigenvalues(name, hparams=dirac.Hparams()),
                             _pair(0, 1j * F_PRIME_0), atol=1e-12)


@pytest.mark.parametrize("name", ["wgan", "wgan_gp"])
def test_ac_wasserstein_field_equals_dirac_field(name):
  # The Wasserstein losses are linear in D = psi x, and E[x] is the same for
  # N(m, s^2) as for delta_m, so smoothing changes nothing.
  points = jax.random.normal(jax.random.PRNGKey(1), (9, 2), jnp.float32) * 1.5
  dirac_case = dynamics.vector_field(name, points)
  general = dynamics.jacobian_eigenvalues(name)
  np.testing.assert_allclose(general, _pair(0, 1j), atol=1e-12)
  for s in DATA_STDS:
    hp = dirac.Hparams(data_std=s)
    np.testing.assert_allclose(dynamics.jacobian_eigenvalues(name, hparams=hp), general,
                               atol=1e-12)
    np.testing.assert_allclose(dynamics.vector_field(name, points, hparams=hp), dirac_case,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_ac_regularizers_add_the_ac_damping():
  for s in DATA_STDS:
    for gamma in (0.3, 1.0):
      hp = dirac.Hparams(gamma=gamma, noise_std=0.8, data_std=s)
      np.testing.assert_allclose(dynamics.jacobian_eigenvalues("r1", hparams=hp),
                                 _regularized_eigenvalues(gamma + s**2 / 2), atol=1e-6)
      np.testing.assert_allclose(dynamics.jacobian_eigenvalues("r2", hparams=hp),
                                 _regularized_eigenvalues(gamma + s**2 / 2), atol=1e-6)
      np.testing.assert_allclose(dynamics.jacobian_eigenvalues("zero_centered", hparams=hp),
                                 _regularized_eigenvalues(2 * gamma + s**2 / 2), atol=1e-6)
      # Roth's weights are still 1/4 each at (0, 0), in expectation.
      np.testing.assert_allclose(dynamics.jacobian_eigenvalues("gp_roth", hparams=hp),
                                 _regularized_eigenvalues(gamma / 2 + s**2 / 2), atol=1e-6)
      # Instance noise on N(., s^2): D sees N(., s^2 + sigma^2).
      np.testing.assert_allclose(dynamics.jacobian_eigenvalues("instance_noise", hparams=hp),
                                 _regularized_eigenvalues((s**2 + 0.8**2) / 2), atol=1e-6)
      # Consensus: J - gamma J^T J of the a.c. Jacobian.
      jac = _ac_jacobian(s)
      np.testing.assert_allclose(dynamics.jacobian_eigenvalues("consensus", hparams=hp),
                                 np.sort_complex(np.linalg.eigvals(jac - gamma * jac.T @ jac)),
                                 atol=1e-6)
  with pytest.raises(ValueError, match="data_std must be >= 0"):
    dynamics.jacobian_eigenvalues("r1", hparams=dirac.Hparams(data_std=-1.0))


def test_ac_losses_are_expectations_over_the_gaussians():
  # Away from the equilibrium, where the Roth weights depend on x, against
  # an independent 80-node quadrature of N(0, s^2) and N(theta, s^2).
  theta, psi, s, gamma = 0.6, -1.3, 0.9, 0.7
  nodes, weights = np.polynomial.hermite_e.hermegauss(80)
  weights = weights / weights.sum()
  real, fake = s * nodes, theta + s * nodes
  softplus = lambda t: np.logaddexp(0.0, t)
  sig = lambda t: 1 / (1 + np.exp(-t))
  mean = lambda values: float(np.sum(weights * values))
  gan = mean(softplus(-psi * real)) + mean(softplus(psi * fake))
  roth = gamma / 2 * psi**2 * (mean((1 - sig(psi * real))**2) + mean(sig(psi * fake)**2))
  hp = dirac.Hparams(gamma=gamma, data_std=s)
  with jax.enable_x64(True):
    theta, psi = jnp.float64(theta), jnp.float64(psi)
    np.testing.assert_allclose(dynamics.d_loss("non_saturating", theta, psi, hparams=hp), gan,
                               rtol=1e-7)
    np.testing.assert_allclose(dynamics.d_loss("gp_roth", theta, psi, hparams=hp), gan + roth,
                               rtol=1e-7)
    np.testing.assert_allclose(dynamics.d_loss("r1", theta, psi, hparams=hp),
                               gan + gamma / 2 * psi**2, rtol=1e-7)
    np.testing.assert_allclose(dynamics.g_loss("non_saturating", theta, psi, hparams=hp),
                               mean(softplus(-psi * fake)), rtol=1e-7)


@pytest.mark.slow
def test_ac_verdicts_against_papers_ac_column():
  grid = dirac.initial_grid(low=-2.0, high=2.0, num=5)
  general_hp = dirac.Hparams(gamma=0.5, noise_std=1.0, clip=1.0)
  ac_hp = general_hp.replace(data_std=1.0)
  verdicts = [analysis.verdict(name, hparams=general_hp, lr=0.1, steps=2000,
                               mode="alternating", grid=grid) for name in PAPER]
  ac_verdicts = [analysis.verdict(name, hparams=ac_hp, lr=0.1, steps=2000,
                                  mode="alternating", grid=grid) for name in PAPER]
  assert {v.method: v.paper_converges for v in ac_verdicts} == PAPER_AC
  assert {v.method: dirac.get_method(v.method).paper_converges_ac for v in ac_verdicts} == PAPER_AC
  # The lab's a.c. column, recorded as found: the paper's, but for DRAGAN.
  assert {v.method: v.converges for v in ac_verdicts} == LAB_AC
  assert [v.method for v in ac_verdicts if v.converges != v.paper_converges] == ["dragan"]
  for v in ac_verdicts:
    assert v.absolutely_continuous and v.data_std == 1.0
    assert v.simulated == LAB_AC[v.method], v  # simulation agrees everywhere
    # Every smooth method has eigenvalues with negative real parts; the
    # unregularized GAN's are -1/4 +- 0.433i for s = 1.
    assert v.continuous == (v.method not in ("wgan", "wgan_gp")), v
  by_name = {v.method: v for v in ac_verdicts}
  np.testing.assert_allclose(by_name["minimax"].eigenvalues,
                             _pair(-0.25, 1j * math.sqrt(3) / 4), atol=1e-7)
  # DRAGAN (smooth=False, judged by simulation): its kink still gives the
  # unregularized a.c. eigenvalues, yet every start but (0, 0) ends at
  # theta = +-4 gamma with psi = 0, because the penalty centred at 1 repels
  # psi from 0 while |theta| < 4 gamma.
  np.testing.assert_allclose(by_name["dragan"].eigenvalues,
                             by_name["non_saturating"].eigenvalues, atol=1e-12)
  ends = np.asarray(dynamics.simulate("dragan", grid, 4000, 0.1, mode="alternating",
                                      hparams=ac_hp))[:, -1]
  moved = np.any(grid != 0, axis=1)
  np.testing.assert_allclose(np.abs(ends[moved, 0]), 4 * 0.5, atol=1e-4)
  np.testing.assert_allclose(ends[moved, 1], 0.0, atol=1e-4)

  table = analysis.verdict_table(verdicts, lr=0.1, mode="alternating", steps=2000,
                                 ac_verdicts=ac_verdicts)
  assert "| a.c. eigenvalues (s = 1) |" in table
  assert "- DRAGAN (`dragan`), a.c. case: no, paper yes. DRAGAN's penalty" in table
  assert "general case:" not in table  # the general column agrees everywhere
  row = next(line for line in table.splitlines() if line.startswith("| WGAN-GP"))
  assert row.endswith("| 0 ± 1i | 1.41 | **no** (sim) | no |"), row
  with pytest.raises(ValueError, match="expected a.c."):
    analysis.verdict_table(verdicts, lr=0.1, mode="alternating", steps=2000,
                           ac_verdicts=verdicts)
  with pytest.raises(ValueError, match="expected Dirac"):
    analysis.verdict_table(ac_verdicts, lr=0.1, mode="alternating", steps=2000)
  with pytest.raises(ValueError, match="same order"):
    analysis.verdict_table(verdicts, lr=0.1, mode="alternating", steps=2000,
                           ac_verdicts=ac_verdicts[::-1])


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
  verdicts, ac_verdicts = lab.run(config, str(tmp_path))
  assert [v.method for v in verdicts] == ["non_saturating", "r1"]
  assert [v.converges for v in verdicts] == [False, True]
  assert [v.method for v in ac_verdicts] == ["non_saturating", "r1"]
  assert [v.converges for v in ac_verdicts] == [True, True]
  assert {v.data_std for v in ac_verdicts} == {config.data_std} == {1.0}
  table = (tmp_path / "verdicts.md").read_text()
  assert table.startswith("| method | eigenvalues | continuous verdict |")
  assert "| a.c. eigenvalues (s = 1) | a.c. simulated distance | a.c. converges? |" in table
  assert "| R1 (`r1`) | -0.25 ± 0.433i | yes |" in table
  # s = 1: the unregularized a.c. pair; R1 adds gamma = 0.5 to the damping.
  assert "| no | -0.25 ± 0.433i | 0.802 | **yes** (eig) | yes |" in table
  assert "| yes | -0.5, -0.5 | 0.954 | **yes** (eig) | yes |" in table
  assert "Every verdict, general and a.c., is the paper's." in table
  rows = json.loads((tmp_path / "verdicts.json").read_text())
  assert len(rows) == 2
  for row in rows:  # tools/report_sections.py reads the first four keys
    assert list(row)[:8] == ["method", "eigenvalues", "continuous", "spectral_radius",
                             "discrete", "simulated_distance", "converges",
                             "paper_converges"]
    assert {"ac_converges", "paper_ac_converges", "ac_eigenvalues",
            "data_std"} <= set(row)
  assert [(r["method"], r["converges"], r["ac_converges"], r["paper_ac_converges"])
          for r in rows] == [("non_saturating", False, True, True), ("r1", True, True, True)]
  np.testing.assert_allclose(rows[0]["ac_eigenvalues"], [[-0.25, -math.sqrt(3) / 4],
                                                         [-0.25, math.sqrt(3) / 4]], atol=1e-12)
  config.unlock()
  config.data_std = 0.0
  with pytest.raises(ValueError, match="data_std must be > 0"):
    lab.hparams_from_config(config, absolutely_continuous=True)
  config.data_std = 1.0
  assert os.path.getsize(tmp_path / "dirac_gan.png") > 10_000
  with pytest.raises(ValueError, match=r"expected '\[<lab>\]\[,runlocal\]' with lab in dynamics"):
    dirac_gan.get_config("dynamic")
  config.lab = "modes"  # the 2-D follow-up is training now (experiments/toy_modes.py)
  with pytest.raises(ValueError, match="valid choices: dynamics"):
    lab.run(config, str(tmp_path))
