"""Tests for gan_jax.divergences: f, conjugates, activations, f'(1).

Properties checked in float64 against formulas written independently here:
f(1) (0 except for gan) and f'(1) = threshold; Fenchel duality
f(u) = sup_t (t u - f*(t)) over a fine grid of the conjugate's domain; the
activation maps R into that domain; and the stable f*(g_f(v)) agrees with the
composition.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from gan_jax import divergences

NAMES = ["gan", "js", "kl", "reverse_kl", "pearson", "squared_hellinger"]

# Generators f(u) written independently with numpy.
F_REFERENCE = {
    "gan": lambda u: u * np.log(u) - (u + 1) * np.log(u + 1),
    "js": lambda u: -(u + 1) * np.log((1 + u) / 2) + u * np.log(u),
    "kl": lambda u: u * np.log(u),
    "reverse_kl": lambda u: -np.log(u),
    "pearson": lambda u: (u - 1) ** 2,
    "squared_hellinger": lambda u: (np.sqrt(u) - 1) ** 2,
}

# f'(u) = argmax_t (t u - f*(t)), written independently.
F_PRIME_REFERENCE = {
    "gan": lambda u: np.log(u / (1 + u)),
    "js": lambda u: np.log(2 * u / (1 + u)),
    "kl": lambda u: np.log(u) + 1,
    "reverse_kl": lambda u: -1 / u,
    "pearson": lambda u: 2 * (u - 1),
    "squared_hellinger": lambda u: 1 - 1 / np.sqrt(u),
}

THRESHOLDS = {
    "gan": -math.log(2), "js": 0.0, "kl": 1.0, "reverse_kl": -1.0,
    "pearson": 0.0, "squared_hellinger": 0.0,
}


def test_registry_lists_all_divergences():
  assert sorted(divergences.DIVERGENCES.names()) == sorted(NAMES)


def test_unknown_divergence_raises_listing_names():
  with pytest.raises(ValueError) as info:
    divergences.get_divergence("wasserstein")
  for name in NAMES:
    assert name in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_generator_matches_reference_and_threshold_is_f_prime_at_one(name):
  div = divergences.get_divergence(name)
  u = np.array([0.2, 0.5, 1.0, 1.7, 3.0, 8.0])
  with enable_x64():
    got = np.asarray(div.f(jnp.asarray(u, jnp.float64)))
    slope = float(jax.grad(div.f)(jnp.float64(1.0)))
  np.testing.assert_allclose(got, F_REFERENCE[name](u), rtol=1e-12, atol=1e-14)
  # f(1) = 0, except GAN's generator: its D_f is 2 JSD - log 4.
  assert got[2] == pytest.approx(-math.log(4) if name == "gan" else 0.0,
                                 abs=1e-14)
  assert div.threshold == pytest.approx(THRESHOLDS[name], abs=1e-15)
  assert slope == pytest.approx(div.threshold, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_fenchel_duality_on_a_grid(name):
  """sup_t (t u - f*(t)) over the conjugate's domain equals f(u)."""
  div = divergences.get_divergence(name)
  low, high = div.domain
  low = max(low, -10.0)
  high = min(high - 1e-9, 10.0)
  grid = np.linspace(low, high, 400_001)
  us = np.array([0.3, 0.7, 1.0, 2.0, 4.0])
  with enable_x64():
    conj = np.asarray(div.conjugate(jnp.asarray(grid, jnp.float64)))
  assert np.all(np.isfinite(conj)), "f* must be finite on its domain"
  for u in us:
    values = grid * u - conj
    best = np.argmax(values)
    assert values[best] == pytest.approx(F_REFERENCE[name](u), abs=1e-7)
    # The maximiser is f'(u), well inside the grid.
    step = grid[1] - grid[0]
    assert abs(grid[best] - F_PRIME_REFERENCE[name](u)) <= 2 * step + 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_activation_maps_into_domain_and_composition_is_stable(name):
  div = divergences.get_divergence(name)
  low, high = div.domain
  v = np.linspace(-6.0, 6.0, 121)
  with enable_x64():
    t = np.asarray(div.activation(jnp.asarray(v, jnp.float64)))
    composed = np.asarray(div.conjugate(jnp.asarray(t)))
    fused = np.asarray(div.conjugate_of_activation(jnp.asarray(v, jnp.float64)))
  assert np.all((t > low) & (t < high))
  assert np.all(np.diff(t) > 0), "g_f must be increasing"
  np.testing.assert_allclose(fused, composed, rtol=1e-9, atol=1e-12)
  # Large logits in float32: the fused form stays finite where f*(g(v)) might
  # not (e.g. gan: g(v) rounds to 0 and -log(1 - e^0) = inf).
  big = jnp.asarray([-60.0, -20.0, 0.0, 20.0, 60.0], jnp.float32)
  assert bool(jnp.all(jnp.isfinite(div.activation(big))))
  assert bool(jnp.all(jnp.isfinite(div.conjugate_of_activation(big))))


def test_conjugate_closed_forms_at_points():
  """A few hand values of f*(t) from the table in REFERENCES.md."""
  t = -0.5
  expected = {
      "gan": -math.log(1 - math.exp(t)),
      "js": -math.log(2 - math.exp(t)),
      "kl": math.exp(t - 1),
      "reverse_kl": -1 - math.log(-t),
      "pearson": t * t / 4 + t,
      "squared_hellinger": t / (1 - t),
  }
  with enable_x64():
    for name, value in expected.items():
      got = float(divergences.get_divergence(name).conjugate(jnp.float64(t)))
      assert got == pytest.approx(value, rel=1e-12), name
