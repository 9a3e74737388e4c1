"""CIFAR-10 and CelebA through the stock tfds builders, with tfds' mock data
(never the network), and the CelebA crop-and-resize."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax.configs import base
from gan_jax import data
from gan_jax.data import images


def _config(**overrides):
  c = base.get_config().dataset
  c.update(overrides)
  return c


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_loads_through_mock_data(split):
  with tfds.testing.mock_data(num_examples=7):
    x, y = images.load_images("cifar10", split=split, source="default", data_dir="")
  assert x.shape == (7, 32, 32, 3) and x.dtype == np.uint8
  assert y.shape == (7,) and y.dtype == np.int32 and y.min() >= 0 and y.max() < 10


@pytest.mark.parametrize("split", ["train", "test"])
def test_celeb_a_loads_cropped_and_resized(split):
  with tfds.testing.mock_data(num_examples=5):
    x, y = images.load_images("celeb_a", split=split, source="tfds", data_dir="")
  assert x.shape == (5, 64, 64, 3) and x.dtype == np.uint8
  assert y.shape == (5,) and y.dtype == np.int32 and (y == -1).all()
  assert x.std() > 0  # Real (mock) pixels, not a constant fill.


def test_get_dataset_gives_scaled_cifar10_batches():
  with tfds.testing.mock_data(num_examples=12):
    ds = data.get_dataset(_config(name="cifar10", source="tfds", batch_size=4))
  assert ds.sample_shape == (32, 32, 3) and ds.train_images.shape == (12, 32, 32, 3)
  batch = ds.batch_at(0, seed=0, num_critic_steps=2)
  assert batch.shape == (2, 4, 32, 32, 3) and batch.dtype == np.float32
  assert batch.min() >= -1.0 and batch.max() <= 1.0


def test_get_dataset_gives_64x64_celeb_a():
  with tfds.testing.mock_data(num_examples=6):
    ds = data.get_dataset(_config(name="celeb_a", source="tfds", batch_size=3,
                                  num_train_examples=4))
  assert ds.sample_shape == (64, 64, 3) and ds.train_images.shape == (4, 64, 64, 3)


def test_center_crop_keeps_only_the_central_square():
  image = np.zeros((218, 178, 3), np.uint8)  # CelebA's size.
  top, left = (218 - 140) // 2, (178 - 140) // 2
  image[top:top + 140, left:left + 140] = (10, 120, 250)
  out = images.center_crop_resize(image, crop=140, size=64)
  assert out.shape == (64, 64, 3) and out.dtype == np.uint8
  np.testing.assert_array_equal(out, np.broadcast_to([10, 120, 250], (64, 64, 3)))


def test_resize_keeps_orientation():
  square = np.zeros((140, 140, 1), np.uint8)
  square[70:] = 255  # Bottom half white.
  out = images.center_crop_resize(square, crop=140, size=64)[..., 0]
  assert (out[:30] == 0).all() and (out[34:] == 255).all()
  # Between the halves the bilinear filter blends: values strictly between.
  assert ((out[31:33] > 0) & (out[31:33] < 255)).all()


def test_center_crop_larger_than_the_image_fails():
  with pytest.raises(ValueError, match="cannot center-crop 140x140"):
    images.center_crop_resize(np.zeros((100, 178, 3), np.uint8), crop=140, size=64)


@pytest.mark.parametrize("name", ["cifar10", "celeb_a"])
def test_offline_tfds_failure_is_a_dataset_not_found_error(name, monkeypatch):
  def offline(*args, **kwargs):
    raise ConnectionError("no network")
  monkeypatch.setattr(tfds, "data_source", offline)
  with pytest.raises(images.DatasetNotFoundError, match=f"{name}.*needs the network"):
    images.load_images(name, split="train", source="default", data_dir="")


@pytest.mark.parametrize("name", ["cifar10", "celeb_a"])
def test_other_sources_are_refused(name):
  with pytest.raises(ValueError, match=f"{name} is loaded through tfds only"):
    images.load_images(name, split="train", source="debian", data_dir="")


def test_new_datasets_are_listed():
  assert {"cifar10", "celeb_a"} <= set(data.dataset_names())
