"""Reads a PyTorch state-dict file (`torch.save`) into NumPy arrays, without torch.

Two layouts are read, the ones `torch.load` reads:
  zip     (torch >= 1.6): `<dir>/data.pkl`, the pickled object whose tensors
          refer to storages `<dir>/data/<key>` by persistent id, and
          `<dir>/byteorder` ("little" when absent).
  legacy  (torch.save(..., _use_new_zipfile_serialization=False), the default
          before 1.6): consecutive pickles of a magic number, a protocol
          version, system info (byte order) and the object, then the list of
          storage keys, then each storage as an int64 element count and its
          bytes.
The even older tar layout is refused with a message saying so.

Unpickling is restricted: `find_class` allows only `collections.OrderedDict`,
`torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` (mapped to NumPy
rebuilds here) and the typed storage classes (`torch.FloatStorage` ...,
mapped to dtypes); any other global raises `TorchFileError`, so a crafted
file cannot run code. Every tensor view is bounds-checked against its storage.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any, BinaryIO, Callable

import numpy as np

from gan_jax.errors import TorchFileError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _Storage:
  """A storage's dtype and element count, its bytes filled in when read."""

  def __init__(self, dtype: Any, numel: Any):
    if not any(dtype is d for d in STORAGE_DTYPES.values()) or not isinstance(numel, int):
      raise TorchFileError(f"a storage of unknown type {dtype!r:.40} or size {numel!r:.40}")
    self.dtype, self.numel = np.dtype(dtype), numel
    self.array: np.ndarray | None = None

  def fill(self, data: bytes, byteorder: str) -> None:
    if len(data) != self.numel * self.dtype.itemsize:
      raise TorchFileError(f"a storage holds {len(data)} bytes, expected "
                           f"{self.numel} x {self.dtype.itemsize}")
    dtype = self.dtype.newbyteorder("<" if byteorder == "little" else ">")
    self.array = np.frombuffer(data, dtype=dtype).astype(self.dtype)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple,
                    *unused) -> Any:
  """A deferred tensor: the storage bytes may come after the pickle (legacy)."""
  del unused
  size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
  if len(size) != len(stride) or any(s < 0 for s in size + stride) or offset < 0:
    raise TorchFileError(f"a tensor has a bad view: size {size}, stride {stride}")
  last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
  if last >= storage.numel:
    raise TorchFileError(f"a tensor view (offset {offset}, size {size}, stride {stride}) "
                         f"runs past its storage of {storage.numel} elements")
  return _Tensor(storage, offset, size, stride)


class _Tensor:

  def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
    self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

  def numpy(self) -> np.ndarray:
    array = self.storage.array
    if array is None:
      raise TorchFileError("a tensor's storage is missing from the file")
    if not all(self.size):
      return np.zeros(self.size, array.dtype)
    item = array.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(array[self.offset:], shape=self.size,
                                           strides=[s * item for s in self.stride],
                                           writeable=False)
    return np.array(view)


def _rebuild_parameter(data: Any, *unused) -> Any:
  del unused
  return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): dtype for name, dtype in STORAGE_DTYPES.items()},
}


class _Unpickler(pickle.Unpickler):

  def __init__(self, file: BinaryIO, storage: Callable[[tuple], _Storage]):
    super().__init__(file)
    self._storage = storage

  def find_class(self, module: str, name: str) -> Any:
    try:
      return _ALLOWED[(module, name)]
    except KeyError:
      raise TorchFileError(f"refusing to unpickle the global {module}.{name}: only "
                           "tensors, storages and OrderedDict are read") from None

  def persistent_load(self, pid: Any) -> _Storage:
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
      raise TorchFileError(f"unknown persistent id {pid!r:.80}")
    return self._storage(pid)


def _resolve(obj: Any) -> Any:
  if isinstance(obj, _Tensor):
    return obj.numpy()
  if isinstance(obj, dict):
    return type(obj)((k, _resolve(v)) for k, v in obj.items())
  if isinstance(obj, (list, tuple)):
    return type(obj)(_resolve(v) for v in obj)
  return obj


def _load_zip(path: str) -> Any:
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pickles) != 1:
      raise TorchFileError(f"{path} is a zip file without exactly one data.pkl")
    prefix = pickles[0][:-len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
      byteorder = archive.read(prefix + "byteorder").decode().strip()
    storages: dict[str, _Storage] = {}

    def storage(pid: tuple) -> _Storage:
      if len(pid) != 5:
        raise TorchFileError(f"unexpected storage id {pid!r:.80}")
      _, dtype, key, _, numel = pid
      if key not in storages:
        storages[key] = _Storage(dtype, numel)
        try:
          storages[key].fill(archive.read(f"{prefix}data/{key}"), byteorder)
        except KeyError:
          raise TorchFileError(f"{path} lacks the storage {prefix}data/{key}") from None
      return storages[key]

    obj = _Unpickler(io.BytesIO(archive.read(pickles[0])), storage).load()
  return _resolve(obj)


def _load_legacy(path: str) -> Any:
  with open(path, "rb") as f:
    restricted = lambda: _Unpickler(f, _no_storage).load()
    if restricted() != LEGACY_MAGIC:
      raise TorchFileError(f"{path} is neither a zip nor a legacy PyTorch file")
    if restricted() != LEGACY_PROTOCOL:
      raise TorchFileError(f"{path}: unsupported legacy protocol version")
    sys_info = restricted()
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    storages: dict[str, _Storage] = {}

    def storage(pid: tuple) -> _Storage:
      if len(pid) != 6 or pid[5] is not None:
        raise TorchFileError(f"unsupported storage id (views of storages) {pid!r:.80}")
      _, dtype, key, _, numel, _ = pid
      storages.setdefault(key, _Storage(dtype, numel))
      return storages[key]

    obj = _Unpickler(f, storage).load()
    keys = restricted()
    for key in keys:
      header = f.read(8)
      if len(header) != 8 or key not in storages:
        raise TorchFileError(f"{path} is cut short or names an unknown storage {key!r}")
      (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", header)
      st = storages[key]
      if numel != st.numel:
        raise TorchFileError(f"{path}: storage {key} holds {numel} elements, expected {st.numel}")
      st.fill(f.read(numel * st.dtype.itemsize), byteorder)
  return _resolve(obj)


def _no_storage(pid: tuple) -> _Storage:
  raise TorchFileError(f"unexpected storage in a legacy header pickle: {pid!r:.80}")


def load(path: str) -> Any:
  """The object pickled in a PyTorch file, its tensors as NumPy arrays.

  Raises:
    TorchFileError: not a PyTorch file, a global other than tensors, storages
      and OrderedDict, or inconsistent storages.
    OSError: the file cannot be read.
  """
  with open(path, "rb") as f:
    head = f.read(512)
  if len(head) >= 262 and head[257:262] == b"ustar":
    raise TorchFileError(f"{path} is a tar-format PyTorch file (torch < 0.4); load and "
                         "re-save it with a newer torch first")
  try:
    return _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
  except (TorchFileError, OSError):
    raise
  except Exception as e:  # pylint: disable=broad-except (foreign bytes fail in many ways)
    raise TorchFileError(f"{path} is not a readable PyTorch file ({type(e).__name__}: "
                         f"{e})") from e


def load_state_dict(path: str) -> dict[str, np.ndarray]:
  """A state dict (`{name: tensor}`) of a PyTorch file as `{name: np.ndarray}`.

  Raises:
    TorchFileError: see `load`; also when the object is not such a mapping.
    FileNotFoundError: no file at `path`.
  """
  if not os.path.exists(path):
    raise FileNotFoundError(f"no file {path}")
  obj = load(path)
  if not isinstance(obj, dict) or not all(
      isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()):
    raise TorchFileError(f"{path} does not hold a state dict of tensors "
                         f"(got {type(obj).__name__})")
  return dict(obj)
