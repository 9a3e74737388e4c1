"""python -m gan_jax.sample: samples and interpolations from a checkpoint, without the dataset."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import data as data_lib, sample, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_slerp_ends_at_the_latents_and_keeps_the_norm_of_orthogonal_ones():
  a, b = jnp.array([3.0, 0.0]), jnp.array([0.0, 3.0])
  path = sample.slerp(a, b, jnp.linspace(0.0, 1.0, 5))
  np.testing.assert_allclose(path[0], a, atol=1e-6)
  np.testing.assert_allclose(path[-1], b, atol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(path, axis=1), 3.0, rtol=1e-6)
  np.testing.assert_allclose(path[2], [3 / np.sqrt(2), 3 / np.sqrt(2)], rtol=1e-6)
  same = sample.slerp(a, a, jnp.linspace(0.0, 1.0, 3))  # parallel: linear, no NaN
  np.testing.assert_allclose(same, jnp.stack([a, a, a]), atol=1e-6)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
  from experiments import dcgan_fashion_mnist  # pylint: disable=g-import-not-at-top
  config = dcgan_fashion_mnist.get_config("runlocal")
  config.eval.every_steps = 0
  workdir = str(tmp_path_factory.mktemp("run"))
  state = train.train_and_evaluate(config, workdir)
  return workdir, state


@pytest.mark.slow
def test_samples_match_the_runs_generator_without_loading_the_dataset(image_run, tmp_path,
                                                                        monkeypatch):
  workdir, state = image_run
  def no_data(*args, **kwargs):
    raise AssertionError("the dataset was loaded")
  monkeypatch.setattr(data_lib, "get_dataset", no_data)
  sample.export(workdir, out=str(tmp_path / "s.npz"), num=10, seed=3)
  out = np.load(tmp_path / "s.npz")
  assert out["samples"].shape == (10, 28, 28, 1) and out["latents"].shape == (10, 100)
  expected = np.asarray(jax.jit(lambda s, z: s.generate(z))(state, out["latents"]))
  np.testing.assert_allclose(out["samples"], expected, atol=1e-6)
  np.testing.assert_array_equal(  # deterministic in the seed
      out["latents"], jax.random.normal(jax.random.PRNGKey(3), (10, 100)))
  summary = sample.export(workdir, out=str(tmp_path / "pngs"), num=3)
  names = sorted(os.listdir(tmp_path / "pngs"))
  assert names == ["sample_00000.png", "sample_00001.png", "sample_00002.png"]
  assert np.asarray(Image.open(tmp_path / "pngs" / names[0])).shape == (28, 28)
  assert "3 samples of step 4" in summary


@pytest.mark.slow
def test_interpolation_grid_cli(image_run, tmp_path):
  workdir, _ = image_run
  out = subprocess.run([sys.executable, "-m", "gan_jax.sample", f"--workdir={workdir}",
                        "--interpolate=3", f"--out={tmp_path}/interp.png"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  grid = np.asarray(Image.open(tmp_path / "interp.png"))
  # 3 rows x 10 columns of 28x28 tiles with 2-pixel padding, upscaled 3x.
  assert grid.shape == (3 * (3 * 30 + 2), 3 * (10 * 30 + 2))
  with pytest.raises(FileNotFoundError, match="No checkpoint at step 99.*steps 2, 4"):
    sample.export(workdir, out=str(tmp_path / "x.npz"), step=99)


@pytest.mark.slow
def test_toy_samples_are_points(tmp_path):
  from experiments import toy_ring  # pylint: disable=g-import-not-at-top
  config = toy_ring.get_config()
  config.train.update(num_steps=2, log_every=1, checkpoint_every=2, sample_every=2,
                      num_grid_samples=16, progress_bar=False)
  config.eval.every_steps = 0
  train.train_and_evaluate(config, str(tmp_path / "run"))
  sample.export(str(tmp_path / "run"), out=str(tmp_path / "p.npz"), num=7)
  assert np.load(tmp_path / "p.npz")["samples"].shape == (7, 2)
  sample.export(str(tmp_path / "run"), out=str(tmp_path / "scatter"), num=50)
  assert os.listdir(tmp_path / "scatter") == ["samples.png"]
