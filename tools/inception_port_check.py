"""Proves the Flax FID Inception port against pytorch-fid's network, on random weights.

Two halves, in two environments:

  /work/torchvenv/bin/python -m tools.inception_port_check --record
      (a venv with torch, torchvision, pytorch-fid and torch-fidelity, no jax)
      builds pytorch-fid's FIDInceptionV3 exactly as `fid_inception_v3()` does
      but without its weight download, loads the random weights of
      tests/inception_golden.py (NumPy, seed 0) into it, `torch.save`s them
      (--pth, zip format) and records torch's outputs in
      tests/golden/inception_port.npz: pool3, logits without and with the fc
      bias for 3 images of 139x107 fed as they are, and pool3 and unbiased
      logits of 2 CIFAR-sized images through pytorch-fid's `InceptionV3`
      wrapper (resize to 299, 2x - 1 on [0, 1] input), plus torch's bilinear
      resize of a tiny input, and torch-fidelity's `logits_unbiased` of one
      299x299 uint8 image. Also writes the tiny reader fixtures
      tests/golden/torch_*.pth (when absent), and checks that torch reads
      the weights as the suite writes them without torch.

  .venv/bin/python -m tools.inception_port_check --compare
      reads --pth with gan_jax's torch-free reader, runs the Flax port and
      prints the max absolute and relative errors against the recording;
      the numbers go into tests/golden/inception_port.json.

The suite (tests/test_inception.py) rebuilds the same weights from the seed
and checks the port against the .npz without torch.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _import_golden():
  """tests/inception_golden.py by path: some wheels install a top-level `tests`."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      "inception_golden", os.path.join(ROOT, "tests", "inception_golden.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


golden = _import_golden()

GOLDEN_NPZ = os.path.join(ROOT, "tests", "golden", "inception_port.npz")
GOLDEN_JSON = os.path.join(ROOT, "tests", "golden", "inception_port.json")
FIXTURES = os.path.join(ROOT, "tests", "golden")


def _torch_model():
  """pytorch-fid's fid_inception_v3() without the weight download."""
  from pytorch_fid import inception as pfi  # pylint: disable=g-import-not-at-top
  build = pfi._inception_v3  # pylint: disable=protected-access (sets init_weights=False)
  model = build(num_classes=1008, aux_logits=False, weights=None)
  model.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
  model.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
  model.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
  model.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
  model.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
  model.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
  model.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
  model.Mixed_7b = pfi.FIDInceptionE_1(1280)
  model.Mixed_7c = pfi.FIDInceptionE_2(2048)
  return model


def _wrapper(model, *, resize: bool):
  """pytorch-fid's InceptionV3 (pool3 block) around `model`."""
  from pytorch_fid import inception as pfi  # pylint: disable=g-import-not-at-top
  original = pfi.fid_inception_v3
  pfi.fid_inception_v3 = lambda: model
  try:
    return pfi.InceptionV3([3], resize_input=resize, normalize_input=resize).eval()
  finally:
    pfi.fid_inception_v3 = original


def _write_reader_fixtures(torch) -> None:
  import collections  # pylint: disable=g-import-not-at-top
  a = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4
  sd = collections.OrderedDict(
      weight=a, weight_t=a.t(), half=torch.tensor([0.5, -2.0], dtype=torch.float16),
      steps=torch.tensor(7, dtype=torch.int64), empty=torch.zeros(0, 3))
  torch.save(sd, os.path.join(FIXTURES, "torch_zip.pth"))
  torch.save(sd, os.path.join(FIXTURES, "torch_legacy.pth"), _use_new_zipfile_serialization=False)

  class Evil:  # what a hostile "weights" file does: a call at load time
    def __reduce__(self):
      return (os.system, ("echo this must never run",))

  torch.save({"weight": a, "payload": Evil()}, os.path.join(FIXTURES, "torch_evil.pth"))


def record(pth: str) -> None:
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top
  import torchvision  # pylint: disable=g-import-not-at-top
  import pytorch_fid  # pylint: disable=g-import-not-at-top
  torch.use_deterministic_algorithms(True)
  model = _torch_model().eval()
  layout = {k: tuple(v.shape) for k, v in model.state_dict().items()}
  weights = golden.random_state_dict(layout)
  model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
  torch.save(model.state_dict(), pth)
  if not os.path.exists(os.path.join(FIXTURES, "torch_zip.pth")):
    _write_reader_fixtures(torch)
  # The suite writes these weights without torch (golden.write_torch_zip): torch reads that too.
  written = pth + ".numpy_written.pth"
  golden.write_torch_zip(weights, written)
  loaded = torch.load(written, weights_only=True)
  assert set(loaded) == set(weights) and all(
      torch.equal(loaded[k], torch.from_numpy(np.array(v))) for k, v in weights.items())
  os.remove(written)

  def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

  out = {}
  with torch.no_grad():
    arch = _wrapper(model, resize=False)
    pool = arch(nchw(golden.arch_inputs()))[0].flatten(1)
    out["arch_pool3"] = pool
    out["arch_logits_unbiased"] = pool @ model.fc.weight.T
    out["arch_logits"] = model.fc(pool)
    full = _wrapper(model, resize=True)
    x = golden.resize_inputs()
    pool = full(nchw((x + 1) / 2))[0].flatten(1)  # pytorch-fid's [0, 1] convention
    out["resize_pool3"] = pool
    out["resize_logits_unbiased"] = pool @ model.fc.weight.T
    small = nchw(golden.small_resize_input())
    for i, size in enumerate(golden.SMALL_RESIZES):
      out[f"small_resize_{i}"] = F.interpolate(small, size=size, mode="bilinear",
                                               align_corners=False).permute(0, 2, 3, 1)
    # torch-fidelity's inception-v3-compat on the same weights: its 'logits_unbiased'.
    try:
      # pylint: disable-next=g-import-not-at-top
      from torch_fidelity import feature_extractor_inceptionv3 as tfi
      fe = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                           feature_extractor_weights_path=pth).eval()
      u8 = np.random.default_rng([golden.SEED, 4]).integers(0, 256, (1, 3, 299, 299))
      f2048, lu = fe(torch.from_numpy(u8.astype(np.uint8)))
      out["fidelity_uint8"] = torch.from_numpy(u8.astype(np.uint8))
      out["fidelity_2048"], out["fidelity_logits_unbiased"] = f2048, lu
    except ImportError as e:
      print(f"torch-fidelity not installed ({e}); skipping its check")
  arrays = {k: v.detach().numpy() for k, v in out.items()}
  fidelity = {k: arrays.pop(k) for k in list(arrays) if k.startswith("fidelity")}
  np.savez_compressed(GOLDEN_NPZ, **{k: v.astype(np.float32) for k, v in arrays.items()})
  if fidelity:
    np.savez_compressed(pth + ".fidelity.npz", **fidelity)
  meta = {
      "torch": torch.__version__, "torchvision": torchvision.__version__,
      "pytorch_fid": pytorch_fid.__version__, "seed": golden.SEED,
      "weights_sha256": golden.state_dict_digest(weights),
      "layout_sha256": golden.layout_digest(layout),
      "arch_inputs_sha256": _digest(golden.arch_inputs()),
      "resize_inputs_sha256": _digest(golden.resize_inputs()),
      "pool3_std": float(arrays["arch_pool3"].std()),
  }
  old = json.load(open(GOLDEN_JSON)) if os.path.exists(GOLDEN_JSON) else {}
  with open(GOLDEN_JSON, "w") as f:
    json.dump({**meta, "errors": old.get("errors", {})}, f, indent=2)
  print(json.dumps(meta, indent=2))
  print(f"wrote {GOLDEN_NPZ} ({os.path.getsize(GOLDEN_NPZ)} bytes) and {pth}")


def _digest(x: np.ndarray) -> str:
  import hashlib  # pylint: disable=g-import-not-at-top
  return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


def errors(ours: np.ndarray, theirs: np.ndarray) -> dict[str, float]:
  """Max absolute error, and max relative to the reference's largest magnitude."""
  ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
  err = np.abs(ours - theirs).max()
  return {"max_abs": float(err), "max_rel": float(err / np.abs(theirs).max())}


def compare(pth: str) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics import inception  # pylint: disable=g-import-not-at-top
  from gan_jax.metrics import torch_pickle  # pylint: disable=g-import-not-at-top
  ref = dict(np.load(GOLDEN_NPZ))
  state_dict = torch_pickle.load_state_dict(pth)
  meta = json.load(open(GOLDEN_JSON))
  assert golden.state_dict_digest(state_dict) == meta["weights_sha256"], "other weights"
  assert golden.layout_digest(inception.torch_layout()) == meta["layout_sha256"], "layout"
  variables = jax.tree_util.tree_map(jnp.asarray, inception.from_torch_state_dict(state_dict))
  apply = lambda size, x: inception.FIDInceptionV3(input_size=size).apply(variables, x)
  arch = apply(None, golden.arch_inputs())
  full = apply(299, golden.resize_inputs())
  res = {
      "arch_pool3": errors(arch.pool3, ref["arch_pool3"]),
      "arch_logits_unbiased": errors(arch.logits_unbiased, ref["arch_logits_unbiased"]),
      "arch_logits": errors(arch.logits, ref["arch_logits"]),
      "resize_pool3": errors(full.pool3, ref["resize_pool3"]),
      "resize_logits_unbiased": errors(full.logits_unbiased, ref["resize_logits_unbiased"]),
  }
  for i, size in enumerate(golden.SMALL_RESIZES):
    res[f"small_resize_{i}"] = errors(
        inception.resize_bilinear(golden.small_resize_input(), size), ref[f"small_resize_{i}"])
  fidelity_path = pth + ".fidelity.npz"
  if os.path.exists(fidelity_path):  # torch-fidelity scales uint8 by (x - 128) / 128
    fid = np.load(fidelity_path)
    x = (fid["fidelity_uint8"].transpose(0, 2, 3, 1).astype(np.float32) - 128) / 128
    out = apply(None, x)
    res["fidelity_2048"] = errors(out.pool3, fid["fidelity_2048"])
    res["fidelity_logits_unbiased"] = errors(out.logits_unbiased,
                                             fid["fidelity_logits_unbiased"])
  res = {k: {m: float(f"{v:.3g}") for m, v in r.items()} for k, r in res.items()}
  for k, r in res.items():
    print(f"{k:26s} max abs {r['max_abs']:.3g}  max rel {r['max_rel']:.3g}")
  meta["errors"] = res
  meta["errors_platform"] = f"jax {jax.__version__} on {jax.devices()[0].platform}"
  with open(GOLDEN_JSON, "w") as f:
    json.dump(meta, f, indent=2)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  mode = parser.add_mutually_exclusive_group(required=True)
  mode.add_argument("--record", action="store_true", help="torch venv: write the golden")
  mode.add_argument("--compare", action="store_true", help="jax venv: measure the port")
  parser.add_argument("--pth", default="/tmp/inception_random_seed0.pth",
                      help="the random weights as torch.save wrote them")
  args = parser.parse_args()
  record(args.pth) if args.record else compare(args.pth)


if __name__ == "__main__":
  main()
