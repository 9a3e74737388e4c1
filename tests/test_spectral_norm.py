"""Spectral normalization of D (Miyato et al. 2018) for every model family."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import toy_ring
from gan_jax import models, penalties, steps
from gan_jax.models.spectral_norm import SPECTRAL_NORM
from gan_jax.state import create_state

FAMILIES = [("dcgan28", {}, (28, 28, 1)), ("mlp", dict(g_hidden=(16,), d_hidden=(32, 16)), (2,)),
            ("dcgan32", dict(nf=8, d_norm="layer_norm"), (32, 32, 3)),
            ("resnet", dict(nf=8, nf_max=16), (32, 32, 3))]


def _kernels(params):
  """{path: kernel} for every weight of 2+ dimensions (convolutions included)."""
  out = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    if leaf.ndim >= 2:
      out["/".join(k.key for k in path)] = np.asarray(leaf)
  return out


@pytest.mark.slow
@pytest.mark.parametrize("name,fields,shape", FAMILIES)
def test_after_enough_iterations_every_normalized_weight_has_largest_singular_value_one(
    name, fields, shape):
  _, d = models.build_models(models.model_config(name, d_spectral_norm=True, **fields), shape)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, *shape))
  variables = d.init({"params": jax.random.PRNGKey(1), "dropout": jax.random.PRNGKey(2)}, x,
                     train=False)
  params, stats = variables["params"], variables["batch_stats"]

  @jax.jit
  def iterate(stats, key):
    _, updates = d.apply({"params": params, "batch_stats": stats}, x, train=True,
                         rngs={"dropout": key}, mutable=["batch_stats"])
    return updates["batch_stats"]
  for i in range(500):  # one power iteration per call
    stats = iterate(stats, jax.random.PRNGKey(i))
  kernels = _kernels(params["inner"])
  assert len(kernels) >= 2 and (name == "mlp" or any(k.ndim == 4 for k in kernels.values()))
  sigmas = stats[SPECTRAL_NORM]
  for path, kernel in kernels.items():
    matrix = kernel.reshape(-1, kernel.shape[-1])
    largest = np.linalg.svd(matrix, compute_uv=False)[0]
    sigma = float(sigmas[f"inner/{path}/sigma"])
    assert abs(sigma / largest - 1) < 1e-3, (path, sigma, largest)
    normalized = np.linalg.svd(matrix / sigma, compute_uv=False)[0]
    assert abs(normalized - 1) < 1e-3, (path, normalized)


@pytest.mark.slow
def test_the_normalized_d_is_d_with_each_weight_divided_by_its_sigma():
  """Planted-mistake guard: the wrapper's output is the plain D's at W / sigma."""
  mlp = dict(d_hidden=(32, 16), dropout_rate=0.0)
  _, d = models.build_models(models.model_config("mlp", d_spectral_norm=True, **mlp), (2,))
  plain = models.build_models(models.model_config("mlp", **mlp), (2,))[1]
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 2))
  variables = d.init({"params": jax.random.PRNGKey(1)}, x, train=False)
  stats = variables["batch_stats"]
  for _ in range(200):
    _, updates = d.apply({**variables, "batch_stats": stats}, x, train=True,
                         mutable=["batch_stats"])
    stats = updates["batch_stats"]
  sigmas = stats[SPECTRAL_NORM]
  divided = jax.tree_util.tree_map_with_path(
      lambda p, w: w / sigmas["inner/" + "/".join(k.key for k in p) + "/sigma"]
      if w.ndim >= 2 else w, variables["params"]["inner"])
  np.testing.assert_allclose(d.apply({**variables, "batch_stats": stats}, x, train=False),
                             plain.apply({"params": divided}, x, train=False),
                             rtol=1e-4, atol=1e-5)
  assert not np.allclose(plain.apply({"params": variables["params"]["inner"]}, x, train=False),
                         plain.apply({"params": divided}, x, train=False), atol=1e-3)


@pytest.mark.slow
def test_training_keeps_u_in_the_state_and_allows_gradient_penalties():
  config = toy_ring.get_config("r1")
  config.dataset.batch_size = 32
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16, 16)
  config.model.d_spectral_norm = True
  config.tricks.feature_matching = True  # the wrapped D's features are found
  state = create_state(config, sample_shape=(2,))
  before = state.d_batch_stats[SPECTRAL_NORM]
  step = jax.jit(steps.make_train_step(config))
  from gan_jax import data  # pylint: disable=g-import-not-at-top
  batch = data.get_dataset(config.dataset).batch_at(0, seed=0, num_critic_steps=1)
  state, metrics = step(state, batch)
  after = state.d_batch_stats[SPECTRAL_NORM]
  assert set(after) == set(before) and np.isfinite(float(metrics["d/penalty"]))
  u = [k for k in after if k.endswith("/u")]
  assert u and all(not np.allclose(before[k], after[k]) for k in u)  # D's update advanced u
  bn = {"params": {}, "batch_stats": {**after, "BatchNorm_0": {"mean": jnp.zeros(3)}}}
  with pytest.raises(ValueError, match="batch norm"):
    penalties.check_penalty_compatible(bn, "r1")
