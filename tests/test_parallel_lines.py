"""The WGAN paper's parallel lines and the 1-D earth mover's distance."""

import json
import math

import numpy as np
import pytest
import scipy.stats

from experiments import dirac_gan
from gan_jax.dynamics import lab, parallel_lines as pl


def test_the_lectures_shovelling_example_costs_five():
  """P = (3, 2, 1, 4), Q = (1, 2, 4, 3) shovelfuls on 4 piles one step apart: W = 5
  (2 from pile 1 to 2, 2 from 2 to 3, 1 from 4 to 3). A signed sum of the CDF
  differences would give 3, the unsorted total 0."""
  p, q = [3, 2, 1, 4], [1, 2, 4, 3]
  assert pl.wasserstein_1d(p, q) == 5.0
  assert pl.wasserstein_1d(q, p) == 5.0 and pl.wasserstein_1d(p, p) == 0.0
  positions = np.arange(4.0)
  assert pl.wasserstein_1d(p, q, positions * 2.5) == 12.5  # distances scale the cost
  # scipy normalises the masses: the same transport per unit of earth.
  assert scipy.stats.wasserstein_distance(positions, positions, p, q) == pytest.approx(5.0 / 10)


def test_bad_piles_are_refused():
  with pytest.raises(ValueError, match="totals differ"):
    pl.wasserstein_1d([1, 2], [1, 1])
  with pytest.raises(ValueError, match=">= 0"):
    pl.wasserstein_1d([2, -1], [0, 1])
  with pytest.raises(ValueError, match="sorted"):
    pl.wasserstein_1d([1, 0], [0, 1], [1.0, 0.0])


def test_the_divergences_of_the_parallel_lines():
  assert pl.divergences(0.0) == dict(w1=0.0, js=0.0, kl=0.0, reverse_kl=0.0)
  d = pl.divergences(-0.3)
  assert d["w1"] == 0.3 and d["js"] == math.log(2) and d["kl"] == d["reverse_kl"] == math.inf
  # W1 of the x-marginals (all the earth at 0 vs all at theta) is |theta|.
  assert pl.wasserstein_1d([1.0, 0.0], [0.0, 1.0], [0.0, 0.7]) == pytest.approx(0.7)


@pytest.mark.slow
def test_a_trained_critic_gives_g_the_w1_gradient_and_a_trained_js_d_almost_none():
  """At theta = +-0.6, 300 Adam steps: the WGAN-GP critic's gradient is about
  dW1/dtheta = sign(theta); the minimax D's has all but vanished."""
  thetas = np.array([-0.6, 0.6])
  critic = pl.trained_gradients(pl.CRITICS[2], thetas, steps=300)
  js = pl.trained_gradients(pl.CRITICS[0], thetas, steps=300)
  np.testing.assert_allclose(critic, np.sign(thetas), atol=0.3)
  assert np.all(np.abs(js) < 0.05 * np.abs(critic)), (js, critic)


@pytest.mark.slow
def test_the_lab_writes_the_figure_and_the_numbers(tmp_path):
  config = dirac_gan.get_config("parallel_lines,runlocal")
  out = lab.run(config, str(tmp_path))
  assert (tmp_path / "parallel_lines.png").stat().st_size > 10_000
  saved = json.loads((tmp_path / "parallel_lines.json").read_text())
  assert saved["thetas"] == [-1.0, 0.0, 1.0] and len(saved["gradients"]) == 3
  assert saved["divergences"][0]["kl"] == math.inf and out["steps"] == 20
