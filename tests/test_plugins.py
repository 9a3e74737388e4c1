"""experiments/my_idea.py: a user's objective and trick, registered from a
config file, train through the unchanged step."""

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses, steps, train, tricks, writers
from gan_jax.errors import ConfigError
from gan_jax.state import create_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _restore_registries(monkeypatch):
  """The registries as they were: other tests enumerate every registered name."""
  # pylint: disable=protected-access
  monkeypatch.setattr(losses.OBJECTIVES, "_items", dict(losses.OBJECTIVES._items))
  monkeypatch.setattr(tricks.TRICKS, "_items", dict(tricks.TRICKS._items))
  monkeypatch.setattr(tricks, "_ORDER", list(tricks._ORDER))


def _load_file():
  """The config file as launch.py's config flag loads it: a fresh module each time."""
  spec = importlib.util.spec_from_file_location(
      "my_idea_config", os.path.join(ROOT, "experiments", "my_idea.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_loading_the_file_twice_registers_the_same_definitions_again():
  first, second = _load_file(), _load_file()
  assert "squared_hinge" in losses.OBJECTIVES.names() and "drift" in tricks.TRICKS.names()
  assert second.get_config().objective == first.get_config().objective == "squared_hinge"
  with pytest.raises(ConfigError, match="Bad config argument 'dirft' for my_idea.py"):
    second.get_config("dirft")
  assert second.get_config("runlocal").to_dict() != second.get_config().to_dict()


def test_the_squared_hinge_and_drift_match_their_formulas():
  my_idea = _load_file()
  r, f = jnp.array([0.5, 2.0, -1.0]), jnp.array([-0.5, 0.25, -3.0])
  objective = losses.get_objective("squared_hinge")
  np.testing.assert_allclose(objective.d_losses(real_logits=r, fake_logits=f),
                             [0.25 + 0.25, 0.0 + 1.5625, 4.0 + 0.0])
  np.testing.assert_allclose(objective.g_losses(fake_logits=f), -f)
  config = my_idea.get_config("drift")
  state = create_state(config, sample_shape=(2,))
  real = jax.random.normal(jax.random.PRNGKey(0), (8, 2))
  spec = steps.StepSpec.from_config(config)
  ctx = tricks.TermContext(
      player="d", d_params=state.d_params, g_params=state.g_params, state=state, real=real,
      key=jax.random.PRNGKey(1), tricks=config.tricks.to_dict(), d_objective=None,
      g_objective=None, discriminate=lambda d, x, k: steps.discriminate(
          state, d, state.d_batch_stats, x, None, rng=k, features=True))
  logits = state.discriminator.apply({"params": state.d_params}, real, train=False)
  np.testing.assert_allclose(my_idea.drift_term(ctx), 1e-3 * np.mean(np.square(logits)),
                             rtol=1e-6)
  assert [t.name for t in spec.loss_terms] == ["drift"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["squared_hinge", "drift"])
def test_each_variant_trains(tmp_path, variant):
  config = _load_file().get_config(f"{variant},runlocal")
  train.train_and_evaluate(config, str(tmp_path))
  rows = [r for r in writers.read_metrics(str(tmp_path)) if "d/loss" in r]
  assert rows and all(np.isfinite(r["d/loss"]) and np.isfinite(r["g/loss"]) for r in rows)
