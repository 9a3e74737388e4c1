"""Data: checksums, scaling, deterministic resumable batches, toys, tfds path."""

import gzip
import os
import shutil

import jax
import numpy as np
import pytest

from gan_jax.configs import base
from gan_jax import data
from gan_jax.data import images, toy2d


def _config(**overrides):
  c = base.get_config().dataset
  c.update(overrides)
  return c


@pytest.fixture
def fashion_copy(tmp_path):
  for name in images.FASHION_MNIST_FILES["test"] + images.FASHION_MNIST_FILES["train"]:
    shutil.copy(os.path.join(images.FASHION_MNIST_DIR, name), tmp_path / name)
  return tmp_path


def test_fashion_mnist_loads_verified_and_scaled():
  x, y = images.load_images("fashion_mnist", split="test", source="default", data_dir="")
  assert x.shape == (10_000, 28, 28, 1) and x.dtype == np.uint8
  assert y.shape == (10_000,) and set(np.unique(y)) == set(range(10))
  scaled = data.scale_images(x[:10])
  assert scaled.min() >= -1.0 and scaled.max() <= 1.0
  assert scaled.min() == -1.0 and scaled.max() == 1.0  # real images use the full range


@pytest.mark.slow
def test_corrupted_copy_fails_the_checksum(fashion_copy):
  path = fashion_copy / "t10k-images-idx3-ubyte.gz"
  content = bytearray(gzip.decompress(path.read_bytes()))
  content[5000] ^= 0xFF  # one flipped pixel byte, valid gzip around it
  path.write_bytes(gzip.compress(bytes(content)))
  with pytest.raises(images.DatasetIntegrityError, match="Checksum mismatch.*t10k-images"):
    images.load_images("fashion_mnist", split="test", source="debian",
                       data_dir=str(fashion_copy))


def test_truncated_copy_fails_clearly(fashion_copy):
  path = fashion_copy / "t10k-labels-idx1-ubyte.gz"
  path.write_bytes(path.read_bytes()[:-100])
  with pytest.raises(images.DatasetIntegrityError, match="t10k-labels"):
    images.load_images("fashion_mnist", split="test", source="debian",
                       data_dir=str(fashion_copy))


def test_recompressed_copy_with_other_gzip_header_still_verifies(fashion_copy):
  path = fashion_copy / "t10k-labels-idx1-ubyte.gz"
  path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), mtime=12345))
  _, labels = images.load_images("fashion_mnist", split="test", source="debian",
                                 data_dir=str(fashion_copy))
  assert labels.shape == (10_000,)


def test_fashion_mnist_folder_from_the_environment(fashion_copy, tmp_path, monkeypatch):
  monkeypatch.setenv(images.FASHION_MNIST_DIR_ENV, str(fashion_copy))
  _, labels = images.load_images("fashion_mnist", split="test", source="debian", data_dir="")
  assert labels.shape == (10_000,)
  (fashion_copy / "t10k-labels-idx1-ubyte.gz").unlink()  # the variable's folder is the one read
  with pytest.raises(images.DatasetNotFoundError, match=str(fashion_copy)):
    images.load_images("fashion_mnist", split="test", source="debian", data_dir="")


def test_missing_dataset_says_how_to_get_it(tmp_path):
  with pytest.raises(images.DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
    data.get_dataset(_config(data_dir=str(tmp_path)))


def test_unknown_dataset_lists_choices():
  with pytest.raises(ValueError, match="fashion_mnist.*mnist_5k.*ring"):
    data.get_dataset(_config(name="fashion"))


def test_mnist_5k_is_real_and_split_disjointly():
  x_tr, y_tr = images.load_images("mnist_5k", split="train", source="default", data_dir="")
  x_te, y_te = images.load_images("mnist_5k", split="test", source="default", data_dir="")
  assert x_tr.shape == (4000, 28, 28, 1) and x_te.shape == (1000, 28, 28, 1)
  assert set(np.unique(y_tr)) == set(range(10)) and set(np.unique(y_te)) == set(range(10))
  train_rows = {row.tobytes() for row in x_tr.reshape(4000, -1)}
  assert not any(row.tobytes() in train_rows for row in x_te.reshape(1000, -1))
  assert x_tr.max() == 255 and (x_tr == 0).mean() > 0.5  # digits: mostly black background


def test_batches_are_deterministic_resumable_and_cover_each_epoch():
  ds = data.get_dataset(_config(batch_size=10, num_train_examples=40))
  stream = ds.batches(seed=3, num_critic_steps=2)
  first = [next(stream) for _ in range(4)]  # 4 steps x 2 x 10 = 2 epochs of 40
  assert first[0].shape == (2, 10, 28, 28, 1) and first[0].dtype == np.float32
  resumed = next(ds.batches(seed=3, num_critic_steps=2, start_step=2))
  np.testing.assert_array_equal(resumed, first[2])
  epoch0 = np.concatenate([b.reshape(20, -1) for b in first[:2]])
  expected = data.scale_images(ds.train_images).reshape(40, -1)
  # Each epoch is a permutation of the data: every example exactly once.
  assert sorted(map(bytes, epoch0.round(4))) == sorted(map(bytes, expected.round(4)))
  other_seed = next(ds.batches(seed=4, num_critic_steps=2))
  assert not np.array_equal(other_seed, first[0])


@pytest.mark.parametrize("name", toy2d.TOYS.names())
def test_toy_distributions(name):
  points = np.asarray(toy2d.sample(name, key=jax.random.PRNGKey(0), num=2000))
  assert points.shape == (2000, 2) and np.isfinite(points).all()
  assert np.abs(points).max() < 6
  if name in ("ring", "grid"):
    assert toy2d.covered_modes(points, name=name).all()
  if name == "circle":
    np.testing.assert_allclose(np.linalg.norm(points, axis=1).mean(), 2.0, atol=0.02)


def test_covered_modes_detects_a_collapsed_generator():
  collapsed = np.tile(toy2d.mode_centers("ring")[:1], (500, 1))
  covered = toy2d.covered_modes(collapsed, name="ring")
  assert covered.sum() == 1 and covered[0]


def test_toy_batches_resume_exactly():
  ds = data.get_dataset(_config(name="ring", batch_size=16))
  a = ds.batches(seed=0, num_critic_steps=3)
  _ = next(a)
  np.testing.assert_array_equal(next(a), ds.batch_at(1, seed=0, num_critic_steps=3))


def test_tfds_source_through_stock_builder_with_mock_data():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(num_examples=12):
    x, y = images.load_images("mnist", split="train", source="default", data_dir="")
  assert x.shape == (12, 28, 28, 1) and x.dtype == np.uint8 and y.shape == (12,)
