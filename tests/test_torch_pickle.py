"""The torch-free reader of torch.save files, on tiny files that torch 2.14 wrote
(tests/golden/torch_*.pth, made by tools/inception_port_check.py --record):
both layouts, strided views, dtypes, and the refusal of anything but tensors."""

import os
import pickle
import zipfile

import numpy as np
import pytest

from gan_jax.errors import TorchFileError
from gan_jax.metrics import torch_pickle

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


@pytest.mark.parametrize("name", ["torch_zip.pth", "torch_legacy.pth"])
def test_reader_reads_both_torch_layouts(name):
  sd = torch_pickle.load_state_dict(os.path.join(GOLDEN, name))
  weight = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
  assert list(sd) == ["weight", "weight_t", "half", "steps", "empty"]
  np.testing.assert_array_equal(sd["weight"], weight)
  np.testing.assert_array_equal(sd["weight_t"], weight.T)  # a strided view of one storage
  assert sd["half"].dtype == np.float16 and sd["half"].tolist() == [0.5, -2.0]
  assert sd["steps"].dtype == np.int64 and sd["steps"].shape == () and sd["steps"] == 7
  assert sd["empty"].shape == (0, 3)


def test_reader_refuses_any_other_global(capfd):
  with pytest.raises(TorchFileError, match="refusing to unpickle the global posix.system"):
    torch_pickle.load_state_dict(os.path.join(GOLDEN, "torch_evil.pth"))
  assert "must never run" not in capfd.readouterr().out


def test_reader_refuses_what_is_not_a_torch_state_dict(tmp_path):
  junk = tmp_path / "junk.pth"
  junk.write_bytes(np.random.default_rng(0).bytes(300))
  with pytest.raises(TorchFileError, match="not a readable PyTorch file"):
    torch_pickle.load_state_dict(str(junk))
  legacy = (tmp_path / "cut.pth")
  legacy.write_bytes(open(os.path.join(GOLDEN, "torch_legacy.pth"), "rb").read()[:-20])
  with pytest.raises(TorchFileError, match="storage holds"):
    torch_pickle.load_state_dict(str(legacy))


def test_a_zip_without_a_storage_or_holding_no_tensors_is_refused(tmp_path):
  with zipfile.ZipFile(os.path.join(GOLDEN, "torch_zip.pth")) as src, \
      zipfile.ZipFile(tmp_path / "cut.pth", "w") as dst:
    for name in src.namelist():
      if not name.endswith("/data/0"):
        dst.writestr(name, src.read(name))
  with pytest.raises(TorchFileError, match="lacks the storage .*data/0"):
    torch_pickle.load_state_dict(str(tmp_path / "cut.pth"))
  with zipfile.ZipFile(tmp_path / "list.pth", "w") as dst:
    dst.writestr("archive/data.pkl", pickle.dumps([1, 2], protocol=2))
  with pytest.raises(TorchFileError, match="does not hold a state dict of tensors"):
    torch_pickle.load_state_dict(str(tmp_path / "list.pth"))
  with pytest.raises(FileNotFoundError):
    torch_pickle.load_state_dict(str(tmp_path / "absent.pth"))
