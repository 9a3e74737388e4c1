"""Random FID-Inception weights and inputs, rebuilt from a seed in NumPy alone.

`write_torch_zip` writes such weights as a torch.save zip file (the suite has
no torch), so the weights lookup runs end to end on them.

The same functions run on both sides of the port check: in the torch venv
(tools/inception_port_check.py loads the weights into pytorch-fid's
network and records its outputs in tests/golden/inception_port.npz) and in the
suite (tests/test_inception.py loads them into the Flax port and compares).
Only NumPy and the standard library here, so the torch venv can import it.

Every tensor draws from its own generator, seeded by (seed, crc32(name)), so
the weights do not depend on the order the names come in. Scales keep the
activations of the 94 conv-BN-ReLU layers of order one: He-normal kernels,
BN scale U(0.5, 1.5), bias and running mean N(0, 0.2^2), running variance
U(0.5, 2).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from typing import Mapping

import numpy as np

SEED = 0
ARCH_SHAPE = (3, 139, 107, 3)  # [B, H, W, C]: no resize; Mixed_7 still sees 3x2
RESIZE_SHAPE = (2, 32, 32, 3)  # CIFAR-sized, through the 299x299 resize
RESIZE_STRIDE = 13             # the golden keeps every 13th row / column at 299
SMALL_RESIZES = ((11, 13), (4, 3))  # up- and down-sampling of a [2, 7, 5, 3] input


def random_state_dict(layout: Mapping[str, tuple[int, ...]], *,
                      seed: int = SEED) -> dict[str, np.ndarray]:
  """{torch name: array} for the names and torch shapes of `layout`."""
  out = {}
  for name in sorted(layout):
    shape = tuple(int(s) for s in layout[name])
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
      value = np.asarray(rng.integers(0, 1000), np.int64)
    elif name.endswith("conv.weight"):
      fan_in = int(np.prod(shape[1:]))
      value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    elif name == "fc.weight":
      value = rng.standard_normal(shape) / np.sqrt(shape[1])
    elif name == "fc.bias":
      value = 0.1 * rng.standard_normal(shape)
    elif leaf == "weight":
      value = rng.uniform(0.5, 1.5, shape)
    elif leaf in ("bias", "running_mean"):
      value = 0.2 * rng.standard_normal(shape)
    elif leaf == "running_var":
      value = rng.uniform(0.5, 2.0, shape)
    else:
      raise ValueError(f"no rule for {name}")
    out[name] = value if value.dtype == np.int64 else value.astype(np.float32)
  return out


def state_dict_digest(state_dict: Mapping[str, np.ndarray]) -> str:
  """SHA-256 over the sorted names, dtypes, shapes and bytes."""
  h = hashlib.sha256()
  for name in sorted(state_dict):
    value = np.asarray(state_dict[name], order="C")
    h.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
    h.update(value.tobytes())
  return h.hexdigest()


def layout_digest(layout: Mapping[str, tuple[int, ...]]) -> str:
  return hashlib.sha256(json.dumps(sorted((k, list(v)) for k, v in layout.items()))
                        .encode()).hexdigest()


def arch_inputs() -> np.ndarray:
  """[3, 139, 107, 3] float32 in [-1, 1]: uniform noise, a smooth pattern, blocks."""
  rng = np.random.default_rng([SEED, 1])
  b, h, w, c = ARCH_SHAPE
  noise = rng.uniform(-1, 1, (h, w, c))
  yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
  smooth = np.stack([np.sin(7 * yy + 3 * xx), np.cos(5 * xx * yy), 2 * yy - 1], -1)
  blocks = np.where(((yy * h // 9 + xx * w // 9) % 2)[..., None] > 0, 0.9, -0.7)
  blocks = blocks * np.array([1.0, 0.5, -0.8])
  out = np.stack([noise, smooth, np.broadcast_to(blocks, (h, w, c))])[:b]
  return np.clip(out, -1, 1).astype(np.float32)


def resize_inputs() -> np.ndarray:
  """[2, 32, 32, 3] float32 in [-1, 1], as uint8 pixels scaled: real-image-like values."""
  rng = np.random.default_rng([SEED, 2])
  return (rng.integers(0, 256, RESIZE_SHAPE) / 127.5 - 1).astype(np.float32)


def small_resize_input() -> np.ndarray:
  rng = np.random.default_rng([SEED, 3])
  return rng.uniform(-1, 1, (2, 7, 5, 3)).astype(np.float32)


_STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage",
                  np.dtype(np.float16): "HalfStorage", np.dtype(np.float64): "DoubleStorage"}


def _int(v: int) -> bytes:
  return b"J" + struct.pack("<i", v)  # BININT


def _str(v: str) -> bytes:
  data = v.encode()
  return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _tuple(items: list[bytes]) -> bytes:
  return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def write_torch_zip(state_dict: Mapping[str, np.ndarray], path: str) -> None:
  """Writes {name: array} as torch.save does (zip layout, pickle protocol 2):
  each tensor a `torch._utils._rebuild_tensor_v2` of its own storage."""
  ordered_dict = b"ccollections\nOrderedDict\n)R"  # GLOBAL, EMPTY_TUPLE, REDUCE
  out = [b"\x80\x02", ordered_dict, b"("]           # PROTO 2, the dict, MARK
  storages = {}
  for key, (name, value) in enumerate(state_dict.items()):
    value = np.asarray(value, order="C")
    storages[str(key)] = value.astype(value.dtype.newbyteorder("<")).tobytes()
    strides = [int(np.prod(value.shape[i + 1:])) for i in range(value.ndim)]
    storage = _tuple([_str("storage"), f"ctorch\n{_STORAGE_NAMES[value.dtype]}\n".encode(),
                      _str(str(key)), _str("cpu"), _int(value.size)])
    args = _tuple([storage + b"Q", _int(0), _tuple([_int(d) for d in value.shape]),
                   _tuple([_int(s) for s in strides]), b"\x89", ordered_dict])
    out += [_str(name), b"ctorch._utils\n_rebuild_tensor_v2\n", args, b"R"]
  out.append(b"u.")  # SETITEMS, STOP
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", b"".join(out))
    archive.writestr("archive/byteorder", "little")
    archive.writestr("archive/version", "3\n")
    for key, data in storages.items():
      archive.writestr(f"archive/data/{key}", data)
