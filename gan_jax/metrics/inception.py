"""The FID Inception network in Flax: pool3 features and logits for FID, KID, IS.

The network is pytorch-fid's `FIDInceptionV3`, the PyTorch port of the
2015-12-05 TensorFlow Inception graph that FID (Heusel et al. 2017), the
Inception score and the published numbers were made with; torch-fidelity's
`inception-v3-compat` runs the same weights. Layout: torchvision's
inception_v3 (num_classes=1008, no aux head) with pytorch-fid's patched blocks
FIDInceptionA / C / E_1 (3x3 average pools that leave the padding out of the
count) and FIDInceptionE_2 (a 3x3 max pool in place of the average pool);
every conv is bias-free and followed by BatchNorm (eps 0.001, running
statistics: eval mode) and ReLU. Arrays are NHWC; kernels are converted from
torch's OIHW. Convs, the fc layer and the resize run at
`jax.lax.Precision.HIGHEST`, so a GPU or TPU does not drop to TF32 / bf16.

Input convention: images [B, H, W, C] in [-1, 1] (the range of this
project's data and generators), C = 3, or C = 1 tiled to 3 channels. They
are resized to 299x299 as pytorch-fid does it (`F.interpolate(...,
mode="bilinear", align_corners=False)`, no antialiasing) and go into the
network as they are. pytorch-fid takes [0, 1] and maps x -> 2x - 1 after the
resize; bilinear weights sum to one, so resizing [-1, 1] images directly is
the same computation (to float rounding). torch-fidelity resizes with its own
TF1-compatible bilinear filter instead, so its features differ slightly from
pytorch-fid's (and ours) for inputs that are not 299x299.

Outputs (`InceptionOutputs`): `pool3` [B, 2048], the global average of
Mixed_7c (FID, KID, precision/recall); `logits_unbiased` [B, 1008], pool3
times the fc kernel without its bias, which torch-fidelity's Inception score
uses (`get_default_feature_for_isc` = 'logits_unbiased', following the
original Inception-score code, which multiplies pool3 by the softmax layer's
weight alone), and `logits` [B, 1008] with the bias. The score here is the
same formula (metrics.score: softmax in float64, 10 contiguous splits,
std with ddof 0); torch-fidelity shuffles the samples first, which changes
nothing for i.i.d. generated samples beyond the split-to-split noise.

Weights (`load_inception`): the published pytorch-fid file
`pt_inception-2015-12-05-6726825d.pth` (95,628,359 bytes, SHA-256 in
`FID_WEIGHTS`), read without torch (`metrics.torch_pickle`), checked and
converted to a msgpack of the Flax variables in the cache dir (`$GAN_JAX_CACHE`
or `~/.cache/gan_jax/inception`), beside a JSON record of both digests.
Lookup order: an explicit path (`config.eval.inception_weights`), the
converted cache, the .pth put in the cache dir, a download from the release
URL (converted, then deleted: the msgpack is what is kept); offline without
weights `WeightsNotFoundError` names the URL and the path to put the file at.
`python -m gan_jax.metrics.inception --convert=FILE` checks, converts and
caches a downloaded file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import urllib.parse
import urllib.request
from typing import Any, NamedTuple

from absl import logging
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import WeightsIntegrityError, WeightsNotFoundError
from gan_jax.metrics import torch_pickle

HIGHEST = jax.lax.Precision.HIGHEST
INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
BN_EPS = 1e-3
BATCH_SIZE = 50  # images per extraction call (fixed: the last batch is padded)
# Bumped when the conversion or the cached format changes (old caches are redone).
CACHE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class WeightsRelease:
  """A published weights file: where it is, its digest, and the id it gives.

  Attributes:
    name: the file's name without `.pth`.
    url: where it is downloaded from.
    sha256: the SHA-256 hex digest of the file.
    label: names the network in reported numbers.
  """
  name: str
  url: str
  sha256: str
  label: str

  @property
  def extractor_id(self) -> str:
    return f"{self.label}-{self.sha256[:12]}"


# The digest starts with the 6726825d in the name (torch.hub's convention);
# the full value is the one recorded for this file (95,628,359 bytes) by
# projects that pin it, and matches torch-fidelity's re-release of it.
FID_WEIGHTS = WeightsRelease(
    name="pt_inception-2015-12-05-6726825d",
    url=("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
         "pt_inception-2015-12-05-6726825d.pth"),
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    label="inception-fid-2015-12-05")


class InceptionOutputs(NamedTuple):
  pool3: jax.Array            # [B, 2048]
  logits_unbiased: jax.Array  # [B, 1008], no fc bias (the Inception score's input)
  logits: jax.Array           # [B, 1008]


def _interp_matrix(in_size: int, out_size: int) -> np.ndarray:
  """[out, in] weights of torch's bilinear resize, align_corners=False.

  Source coordinate (dst + 0.5) * in / out - 0.5, clamped at 0; its two
  neighbours (the upper one clamped to the last pixel) get 1 - frac and frac.
  Computed in float32 like torch's CPU kernel.
  """
  scale = np.float32(in_size) / np.float32(out_size)
  src = np.maximum(scale * (np.arange(out_size, dtype=np.float32) + np.float32(0.5))
                   - np.float32(0.5), np.float32(0))
  low = np.minimum(src.astype(np.int64), in_size - 1)
  high = np.minimum(low + 1, in_size - 1)
  frac = np.clip(src - low.astype(np.float32), 0, 1)
  m = np.zeros((out_size, in_size), np.float32)
  rows = np.arange(out_size)
  np.add.at(m, (rows, low), 1 - frac)
  np.add.at(m, (rows, high), frac)
  return m


def resize_bilinear(images: jax.Array, size: tuple[int, int]) -> jax.Array:
  """torch's F.interpolate(mode='bilinear', align_corners=False) in NHWC.

  Args:
    images: [B, H, W, C].
    size: (out_h, out_w).

  Returns:
    [B, out_h, out_w, C], float32.
  """
  _, h, w, _ = images.shape
  if (h, w) == tuple(size):
    return images.astype(jnp.float32)
  rows, cols = _interp_matrix(h, size[0]), _interp_matrix(w, size[1])
  x = jnp.einsum("oh,bhwc->bowc", rows, images.astype(jnp.float32), precision=HIGHEST)
  return jnp.einsum("pw,bowc->bopc", cols, x, precision=HIGHEST)


class BasicConv(nn.Module):
  """Conv (no bias) - BatchNorm (eps 0.001, running statistics) - ReLU.

  `padding` is torch's (pad_h, pad_w), applied on both sides.
  """
  features: int
  kernel: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    ph, pw = self.padding
    x = nn.Conv(self.features, self.kernel, self.strides, padding=((ph, ph), (pw, pw)),
                use_bias=False, precision=HIGHEST, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPS, name="bn")(x)
    return nn.relu(x)


def _conv(features: int, kernel: int | tuple[int, int], *, strides: int = 1,
          padding: int | tuple[int, int] = 0, name: str) -> BasicConv:
  pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
  return BasicConv(features, pair(kernel), pair(strides), pair(padding), name=name)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  """3x3, stride 1, pad 1; the padding is not counted (TF's average pool)."""
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), (2, 2), padding="VALID")


class InceptionA(nn.Module):
  """FIDInceptionA: [B, H, W, Cin] -> [B, H, W, 224 + pool_features]."""
  pool_features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b1 = _conv(64, 1, name="branch1x1")(x)
    b5 = _conv(48, 1, name="branch5x5_1")(x)
    b5 = _conv(64, 5, padding=2, name="branch5x5_2")(b5)
    b3 = _conv(64, 1, name="branch3x3dbl_1")(x)
    b3 = _conv(96, 3, padding=1, name="branch3x3dbl_2")(b3)
    b3 = _conv(96, 3, padding=1, name="branch3x3dbl_3")(b3)
    bp = _conv(self.pool_features, 1, name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """torchvision's InceptionB (Mixed_6a): [B, H, W, 288] -> [B, H', W', 768]."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = _conv(384, 3, strides=2, name="branch3x3")(x)
    bd = _conv(64, 1, name="branch3x3dbl_1")(x)
    bd = _conv(96, 3, padding=1, name="branch3x3dbl_2")(bd)
    bd = _conv(96, 3, strides=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  """FIDInceptionC: [B, H, W, 768] -> [B, H, W, 768] (1x7 and 7x1 convs)."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c7 = self.channels_7x7
    b1 = _conv(192, 1, name="branch1x1")(x)
    b7 = _conv(c7, 1, name="branch7x7_1")(x)
    b7 = _conv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = _conv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = _conv(c7, 1, name="branch7x7dbl_1")(x)
    bd = _conv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = _conv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = _conv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = _conv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = _conv(192, 1, name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """torchvision's InceptionD (Mixed_7a): [B, H, W, 768] -> [B, H', W', 1280]."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = _conv(192, 1, name="branch3x3_1")(x)
    b3 = _conv(320, 3, strides=2, name="branch3x3_2")(b3)
    b7 = _conv(192, 1, name="branch7x7x3_1")(x)
    b7 = _conv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = _conv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = _conv(192, 3, strides=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  """FIDInceptionE_1 (average pool) or _2 (`max_pool`): -> [B, H, W, 2048]."""
  max_pool: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b1 = _conv(320, 1, name="branch1x1")(x)
    b3 = _conv(384, 1, name="branch3x3_1")(x)
    b3 = jnp.concatenate([_conv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                          _conv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], -1)
    bd = _conv(448, 1, name="branch3x3dbl_1")(x)
    bd = _conv(384, 3, padding=1, name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([_conv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                          _conv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], -1)
    if self.max_pool:  # pytorch-fid's patch: the TF graph max-pools here.
      pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_3x3(x)
    bp = _conv(192, 1, name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class _Logits(nn.Module):
  """torch's nn.Linear(2048, 1008), returning the product with and without bias."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (FEATURE_DIM, NUM_CLASSES))
    bias = self.param("bias", nn.initializers.zeros, (NUM_CLASSES,))
    unbiased = jnp.dot(x, kernel, precision=HIGHEST)
    return unbiased, unbiased + bias


class FIDInceptionV3(nn.Module):
  """images [B, H, W, C in {1, 3}] in [-1, 1] -> InceptionOutputs.

  Attributes:
    input_size: the side the images are resized to first (299, as FID
      does); None feeds them as they are (at least 75x75).
  """
  input_size: int | None = INPUT_SIZE

  @nn.compact
  def __call__(self, images: jax.Array) -> InceptionOutputs:
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise ValueError(f"images must be [B, H, W, 1 or 3], got {images.shape}")
    x = images.astype(jnp.float32)
    if x.shape[-1] == 1:
      x = jnp.tile(x, (1, 1, 1, 3))
    if self.input_size is not None:
      x = resize_bilinear(x, (self.input_size, self.input_size))
    x = _conv(32, 3, strides=2, name="Conv2d_1a_3x3")(x)
    x = _conv(32, 3, name="Conv2d_2a_3x3")(x)
    x = _conv(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = _conv(80, 1, name="Conv2d_3b_1x1")(x)
    x = _conv(192, 3, name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    x = InceptionC(128, name="Mixed_6b")(x)
    x = InceptionC(160, name="Mixed_6c")(x)
    x = InceptionC(160, name="Mixed_6d")(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE(name="Mixed_7b")(x)
    x = InceptionE(max_pool=True, name="Mixed_7c")(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    unbiased, logits = _Logits(name="fc")(pool3)
    return InceptionOutputs(pool3, unbiased, logits)


# --- torch state dict <-> Flax variables -------------------------------------

_BN_NAMES = {"weight": ("params", "scale"), "bias": ("params", "bias"),
             "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}


@functools.lru_cache(maxsize=1)
def _variable_shapes() -> dict[str, Any]:
  shapes = jax.eval_shape(lambda: FIDInceptionV3(input_size=None).init(
      jax.random.PRNGKey(0), jnp.zeros((1, 75, 75, 3))))
  return flax.core.unfreeze(jax.tree_util.tree_map(lambda s: s.shape, shapes))


def _walk(tree: dict, prefix: tuple = ()):
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _walk(value, prefix + (key,))
    else:
      yield prefix + (key,), value


def torch_layout() -> dict[str, tuple[int, ...]]:
  """{torch state-dict name: torch shape} that `from_torch_state_dict` reads
  (566 entries with the BatchNorms' `num_batches_tracked`)."""
  shapes = _variable_shapes()
  out = {}
  for path, shape in _walk(shapes["params"]):
    *module, leaf = path
    name = ".".join(module)
    if module[-1] == "fc":
      out[f"{name}.weight" if leaf == "kernel" else f"{name}.bias"] = (
          shape[::-1] if leaf == "kernel" else shape)
    elif module[-1] == "conv":
      kh, kw, cin, cout = shape
      out[f"{name}.weight"] = (cout, cin, kh, kw)
    elif module[-1] == "bn":
      torch_name = {"scale": "weight", "bias": "bias"}[leaf]
      out[f"{name}.{torch_name}"] = shape
      if leaf == "bias":
        for stat in ("running_mean", "running_var"):
          out[f"{name}.{stat}"] = shape
        out[f"{name}.num_batches_tracked"] = ()
  return out


def _set(tree: dict, path: tuple, value: np.ndarray) -> None:
  for key in path[:-1]:
    tree = tree.setdefault(key, {})
  tree[path[-1]] = value


def from_torch_state_dict(state_dict: dict[str, np.ndarray]) -> dict[str, Any]:
  """pytorch-fid's FIDInceptionV3 state dict -> {'params', 'batch_stats'}.

  Conv kernels OIHW -> HWIO, the fc weight [1008, 2048] -> [2048, 1008];
  `num_batches_tracked` is dropped (and may be absent, as before torch 0.4.1).

  Raises:
    WeightsIntegrityError: names missing or extra, or a shape differs.
  """
  layout = torch_layout()
  missing = sorted(n for n in set(layout) - set(state_dict)
                   if not n.endswith(".num_batches_tracked"))
  extra = sorted(set(state_dict) - set(layout))
  if missing or extra:
    raise WeightsIntegrityError(f"not the FID Inception's state dict: {len(missing)} names "
                                f"missing (e.g. {missing[:3]}), {len(extra)} unexpected "
                                f"(e.g. {extra[:3]})")
  variables: dict[str, Any] = {"params": {}, "batch_stats": {}}
  for name, shape in layout.items():
    *module, leaf = name.split(".")
    if leaf == "num_batches_tracked":
      continue
    value = np.asarray(state_dict[name])
    if value.shape != shape:
      raise WeightsIntegrityError(f"{name} has shape {value.shape}, expected {shape}")
    value = value.astype(np.float32)
    if module[-1] == "fc":
      if leaf == "weight":
        _set(variables["params"], (*module, "kernel"), value.T.copy())
      else:
        _set(variables["params"], (*module, "bias"), value)
      continue
    if module[-1] == "conv":
      _set(variables["params"], (*module, "kernel"), value.transpose(2, 3, 1, 0).copy())
      continue
    collection, flax_leaf = _BN_NAMES[leaf]
    _set(variables[collection], (*module, flax_leaf), value)
  return variables


# --- weights: checksum, conversion, cache, download -------------------------


def default_cache_dir() -> str:
  return os.environ.get("GAN_JAX_CACHE",
                        os.path.join(os.path.expanduser("~"), ".cache", "gan_jax", "inception"))


def sha256_file(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def _check_digest(path: str, release: WeightsRelease) -> None:
  digest = sha256_file(path)
  if digest != release.sha256:
    raise WeightsIntegrityError(
        f"{path} has SHA-256 {digest[:16]}..., not {release.sha256[:16]}... of "
        f"{release.name}.pth: a cut download or another file; get it again from {release.url}")


def _cache_paths(cache_dir: str, release: WeightsRelease) -> tuple[str, str, str]:
  stem = os.path.join(cache_dir, release.name)
  return stem + ".msgpack", stem + ".json", stem + ".pth"


def _write_atomic(path: str, data: bytes) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, path)


def convert(path: str, *, cache_dir: str | None = None,
            release: WeightsRelease | None = None) -> dict[str, Any]:
  """Checks a downloaded .pth against `release`, converts it and caches it.

  Returns:
    The Flax variables {'params', 'batch_stats'}.

  Raises:
    FileNotFoundError: no file at `path`.
    WeightsIntegrityError: the digest or the layout does not match.
    TorchFileError: not a readable PyTorch file.
  """
  release = release or FID_WEIGHTS
  if not os.path.isfile(path):
    raise WeightsNotFoundError(f"no Inception weights file at {path}")
  _check_digest(path, release)
  variables = from_torch_state_dict(torch_pickle.load_state_dict(path))
  cache_dir = cache_dir or default_cache_dir()
  try:
    os.makedirs(cache_dir, exist_ok=True)
    msgpack_path, record_path, _ = _cache_paths(cache_dir, release)
    data = flax.serialization.to_bytes(variables)
    _write_atomic(msgpack_path, data)
    _write_atomic(record_path, json.dumps(
        {"source": f"{release.name}.pth", "source_sha256": release.sha256,
         "msgpack_sha256": hashlib.sha256(data).hexdigest(), "format": CACHE_FORMAT},
        indent=2).encode())
  except OSError as e:  # a read-only cache: the weights still work this time
    logging.warning("Could not cache the converted Inception weights in %s (%s)", cache_dir, e)
  return variables


def _template() -> dict[str, Any]:
  return jax.tree_util.tree_map(lambda s: np.zeros(s, np.float32), _variable_shapes(),
                                is_leaf=lambda s: isinstance(s, tuple))


def _load_cached(cache_dir: str, release: WeightsRelease) -> dict[str, Any] | None:
  msgpack_path, record_path, _ = _cache_paths(cache_dir, release)
  if not (os.path.exists(msgpack_path) and os.path.exists(record_path)):
    return None
  try:
    with open(record_path) as f:
      record = json.load(f)
    with open(msgpack_path, "rb") as f:
      data = f.read()
    if (record.get("format") != CACHE_FORMAT or record.get("source_sha256") != release.sha256
        or hashlib.sha256(data).hexdigest() != record.get("msgpack_sha256")):
      raise ValueError("its digests do not match its record")
    return flax.serialization.from_bytes(_template(), data)
  except Exception as e:  # pylint: disable=broad-except (a cut or foreign file: redo it)
    logging.warning("Cached Inception weights %s unusable (%s); ignoring them", msgpack_path, e)
    return None


def _download(release: WeightsRelease, dest: str, *, timeout_s: float = 30.0) -> bool:
  """Downloads `release.url` to `dest`; False when it cannot be reached."""
  url = urllib.parse.urlparse(release.url)
  if url.scheme in ("http", "https"):
    from gan_jax.data import images  # pylint: disable=g-import-not-at-top
    if not images.network_reachable(url.hostname):
      return False
  os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
  logging.info("Downloading the Inception weights from %s", release.url)
  part = f"{dest}.part{os.getpid()}"
  try:
    with urllib.request.urlopen(release.url, timeout=timeout_s) as response, \
        open(part, "wb") as f:
      shutil.copyfileobj(response, f)
    os.replace(part, dest)
  except OSError as e:  # URLError and timeouts are OSErrors
    logging.warning("Download of %s failed: %s", release.url, e)
    if os.path.exists(part):
      os.remove(part)
    return False
  return True


def load_variables(*, weights_path: str = "", cache_dir: str | None = None,
                   release: WeightsRelease | None = None) -> dict[str, Any]:
  """The FID Inception's Flax variables, found as the module docstring says.

  Args:
    weights_path: the published .pth file ("" = look in the cache).
    cache_dir: "" or None = `default_cache_dir()`.
    release: the file expected (default `FID_WEIGHTS`).

  Raises:
    WeightsNotFoundError: no weights here and the URL cannot be reached (or
      `weights_path` names no file).
    WeightsIntegrityError: a file whose digest or layout does not match.
  """
  release = release or FID_WEIGHTS
  cache_dir = cache_dir or default_cache_dir()
  if weights_path:
    return convert(weights_path, cache_dir=cache_dir, release=release)
  cached = _load_cached(cache_dir, release)
  if cached is not None:
    return cached
  _, _, pth = _cache_paths(cache_dir, release)
  if os.path.exists(pth):
    return convert(pth, cache_dir=cache_dir, release=release)
  if _download(release, pth):
    try:
      return convert(pth, cache_dir=cache_dir, release=release)
    finally:
      os.remove(pth)  # the converted msgpack is what is kept
  raise WeightsNotFoundError(
      f"the FID Inception weights are not here and {release.url} cannot be reached: "
      f"download that file elsewhere and put it at {pth} (or pass "
      f"--config.eval.inception_weights=FILE)")


# --- extraction --------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _apply_fn(input_size: int | None):
  model = FIDInceptionV3(input_size=input_size)
  return jax.jit(lambda variables, x: model.apply(variables, x))


@dataclasses.dataclass(frozen=True)
class InceptionExtractor:
  """The FID Inception with its weights. `extractor_id` names it in every row.

  Attributes:
    extractor_id: e.g. 'inception-fid-2015-12-05-6726825d0af5'.
    variables: {'params', 'batch_stats'}.
    input_size: the resize target (299).
    batch_size: images per compiled call; the last batch is padded.
  """
  extractor_id: str
  variables: dict
  input_size: int | None = INPUT_SIZE
  batch_size: int = BATCH_SIZE

  def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """images [N, H, W, C in {1, 3}] in [-1, 1] -> (pool3 [N, 2048],
    logits_unbiased [N, 1008]), float32 NumPy."""
    images = np.asarray(images, np.float32)
    fn, b = _apply_fn(self.input_size), self.batch_size
    feats, logits = [], []
    for i in range(0, len(images), b):
      chunk = images[i:i + b]
      n = len(chunk)
      if n < b:
        chunk = np.concatenate([chunk, np.zeros((b - n, *chunk.shape[1:]), np.float32)])
      out = fn(self.variables, jnp.asarray(chunk))
      feats.append(np.asarray(out.pool3[:n]))
      logits.append(np.asarray(out.logits_unbiased[:n]))
    if not feats:
      return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, NUM_CLASSES), np.float32)
    return np.concatenate(feats), np.concatenate(logits)


def load_inception(*, weights_path: str = "", cache_dir: str | None = None,
                   release: WeightsRelease | None = None,
                   batch_size: int = BATCH_SIZE) -> InceptionExtractor:
  """The FID Inception extractor; see `load_variables` for the lookup.

  Raises:
    WeightsNotFoundError, WeightsIntegrityError: as `load_variables`.
  """
  release = release or FID_WEIGHTS
  variables = load_variables(weights_path=weights_path, cache_dir=cache_dir, release=release)
  variables = jax.tree_util.tree_map(jnp.asarray, variables)
  return InceptionExtractor(release.extractor_id, variables, batch_size=batch_size)


def main(argv):
  """`--convert=FILE.pth`: checks, converts and caches the published file."""
  from absl import app  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if not _CONVERT.value:
    raise app.UsageError("--convert=FILE.pth is required")
  cache_dir = _CACHE_DIR.value or default_cache_dir()
  convert(_CONVERT.value, cache_dir=cache_dir)
  print(f"{FID_WEIGHTS.extractor_id}: converted {_CONVERT.value} into "
        f"{_cache_paths(cache_dir, FID_WEIGHTS)[0]}")


if __name__ == "__main__":
  from absl import app, flags  # pylint: disable=g-import-not-at-top,g-multiple-import
  from gan_jax import cli  # pylint: disable=g-import-not-at-top
  _CONVERT = flags.DEFINE_string("convert", "", "The downloaded pytorch-fid weights (.pth).")
  _CACHE_DIR = flags.DEFINE_string("cache_dir", "", "Default: $GAN_JAX_CACHE or "
                                   "~/.cache/gan_jax/inception.")
  app.run(cli.user_errors_as_one_line(main), flags_parser=cli.parse_flags)
