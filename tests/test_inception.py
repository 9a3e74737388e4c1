"""The FID Inception port: the network against pytorch-fid's outputs on random
weights (tests/golden/inception_port.*, recorded by
tools/inception_port_check.py in a torch venv), the weights lookup and
its errors, and the Evaluator on Inception features. Nothing downloads:
the one download test fetches a file:// URL."""

import dataclasses
import json
import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax.configs import base
from gan_jax import cli, compat, config_checks, data, evaluation
from gan_jax.errors import GanJaxError, WeightsIntegrityError, WeightsNotFoundError
from gan_jax.metrics import inception, torch_pickle
from tests import inception_golden as golden

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
META = json.load(open(os.path.join(GOLDEN, "inception_port.json")))
REF = dict(np.load(os.path.join(GOLDEN, "inception_port.npz")))
# Max |ours - torch| / max |torch|; measured <= 1.7e-6 on CPU (inception_port.json).
TOLERANCE = 2e-5


def _rel_error(ours, theirs) -> float:
  ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
  return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.fixture(scope="module")
def random_weights():
  """pytorch-fid's layout with the seed-0 random values of inception_golden."""
  weights = golden.random_state_dict(inception.torch_layout())
  assert golden.state_dict_digest(weights) == META["weights_sha256"]  # the recorded ones
  return weights


@pytest.fixture(scope="module")
def variables(random_weights):
  return jax.tree_util.tree_map(jnp.asarray, inception.from_torch_state_dict(random_weights))


@pytest.fixture(scope="module")
def random_release(tmp_path_factory, random_weights):
  """The random weights as a .pth (written without torch) and a release naming it."""
  path = str(tmp_path_factory.mktemp("release") / "random_inception.pth")
  golden.write_torch_zip(random_weights, path)
  return dataclasses.replace(inception.FID_WEIGHTS, name="random_inception",
                             url=f"file://{path}", sha256=inception.sha256_file(path),
                             label="inception-random-seed0"), path


_apply_arch = jax.jit(lambda v, x: inception.FIDInceptionV3(input_size=None).apply(v, x))


# --- the golden helper ----------------------------------------------------------------

def test_the_numpy_writer_round_trips_through_the_reader(tmp_path):
  sd = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.asarray(3, np.int64)}
  golden.write_torch_zip(sd, str(tmp_path / "w.pth"))
  back = torch_pickle.load_state_dict(str(tmp_path / "w.pth"))
  assert list(back) == ["a", "n"] and back["n"].shape == ()
  np.testing.assert_array_equal(back["a"], sd["a"])


# --- the network against pytorch-fid -----------------------------------------------------

def test_a_state_dict_of_another_network_is_refused():
  other = torch_pickle.load_state_dict(os.path.join(GOLDEN, "torch_zip.pth"))
  with pytest.raises(WeightsIntegrityError, match="not the FID Inception's state dict"):
    inception.from_torch_state_dict(other)


def test_layout_is_pytorch_fids():
  layout = inception.torch_layout()
  assert len(layout) == 566 and sum(int(np.prod(s)) for s in layout.values()) == 23_885_486
  assert golden.layout_digest(layout) == META["layout_sha256"]


@pytest.mark.slow
def test_network_matches_pytorch_fid_on_random_weights(variables):
  x = golden.arch_inputs()
  assert META["arch_inputs_sha256"] == _digest(x)
  out = _apply_arch(variables, x)
  assert out.pool3.shape == (3, 2048) and out.logits.shape == (3, 1008)
  for name in ("pool3", "logits_unbiased", "logits"):
    assert _rel_error(getattr(out, name), REF[f"arch_{name}"]) < TOLERANCE, name


def test_a_planted_kernel_transposition_is_caught(variables):
  """OIHW -> WHIO instead of HWIO: same shapes for square kernels, wrong network."""
  swap = lambda path, v: (jnp.swapaxes(v, 0, 1) if path[-1].key == "kernel" and v.ndim == 4
                          and v.shape[0] == v.shape[1] > 1 else v)
  wrong = {**variables, "params": jax.tree_util.tree_map_with_path(swap, variables["params"])}
  out = _apply_arch(wrong, golden.arch_inputs())
  assert _rel_error(out.pool3, REF["arch_pool3"]) > 100 * TOLERANCE


@pytest.mark.slow
def test_the_299_path_matches_pytorch_fids_wrapper(variables):
  """CIFAR-sized [-1, 1] images vs pytorch-fid's InceptionV3 (resize, 2x - 1) on [0, 1];
  3 slots for 2 images exercises the padded last batch."""
  x = golden.resize_inputs()
  assert META["resize_inputs_sha256"] == _digest(x)
  extractor = inception.InceptionExtractor("random", variables, batch_size=3)
  features, logits = extractor(x)
  assert _rel_error(features, REF["resize_pool3"]) < TOLERANCE
  assert _rel_error(logits, REF["resize_logits_unbiased"]) < TOLERANCE


@pytest.mark.parametrize("index", range(len(golden.SMALL_RESIZES)))
def test_resize_is_torchs_bilinear(index):
  out = inception.resize_bilinear(golden.small_resize_input(), golden.SMALL_RESIZES[index])
  assert _rel_error(out, REF[f"small_resize_{index}"]) < 1e-6


def _digest(x):
  import hashlib  # pylint: disable=g-import-not-at-top
  return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


# --- weights: checksum, cache, download, the offline error ------------------------------

def test_a_wrong_checksum_is_refused_with_the_url(tmp_path):
  fake = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
  shutil.copy(os.path.join(GOLDEN, "torch_zip.pth"), fake)
  with pytest.raises(WeightsIntegrityError, match="not 6726825d0af5f729.*get it again from "
                     "https://github.com/mseitzer/pytorch-fid/releases"):
    inception.load_variables(weights_path=str(fake), cache_dir=str(tmp_path / "cache"))
  assert not (tmp_path / "cache").exists()


def test_offline_without_weights_says_where_to_put_the_file(tmp_path, monkeypatch):
  from gan_jax.data import images  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(images, "network_reachable", lambda host=None, **kw: False)
  with pytest.raises(WeightsNotFoundError) as info:
    inception.load_variables(cache_dir=str(tmp_path))
  line = cli.one_line(info.value)
  assert isinstance(info.value, (GanJaxError, FileNotFoundError))
  assert inception.FID_WEIGHTS.url in line
  assert str(tmp_path / "pt_inception-2015-12-05-6726825d.pth") in line
  assert "--config.eval.inception_weights" in line and "\n" not in str(info.value)
  with pytest.raises(WeightsNotFoundError, match="no Inception weights file at /nowhere"):
    inception.load_variables(weights_path="/nowhere/x.pth", cache_dir=str(tmp_path))


def test_download_converts_caches_and_the_cache_is_checked(tmp_path, random_release, caplog):
  release, _ = random_release
  cache = tmp_path / "cache"
  v = inception.load_variables(cache_dir=str(cache), release=release)  # the file:// "download"
  assert sorted(os.listdir(cache)) == ["random_inception.json", "random_inception.msgpack"]
  record = json.load(open(cache / "random_inception.json"))
  assert record["source_sha256"] == release.sha256
  again = inception.load_variables(cache_dir=str(cache), release=dataclasses.replace(
      release, url="file:///nowhere"))  # from the cache, no download
  chex_equal = jax.tree_util.tree_map(np.array_equal, v, again)
  assert all(jax.tree_util.tree_leaves(chex_equal))
  with open(cache / "random_inception.msgpack", "r+b") as f:  # a flipped byte
    f.seek(1000)
    byte = f.read(1)
    f.seek(1000)
    f.write(bytes([byte[0] ^ 1]))
  with pytest.raises(WeightsNotFoundError):
    inception.load_variables(cache_dir=str(cache), release=dataclasses.replace(
        release, url="file:///nowhere"))
  assert "unusable" in caplog.text


# --- the evaluator ----------------------------------------------------------------------

def test_extractor_choice_per_dataset():
  kind = evaluation.extractor_kind
  assert [kind("auto", n) for n in ("mnist", "mnist_5k", "fashion_mnist")] == ["classifier"] * 3
  assert kind("auto", "cifar10") == kind("auto", "celeb_a") == "inception"
  assert kind("inception", "mnist_5k") == "inception"
  with pytest.raises(ValueError, match="extractor='classifier' needs a dataset"):
    kind("classifier", "cifar10")


@pytest.mark.slow
@pytest.mark.parametrize("name,extractor", [("mnist_5k", "inception"), ("cifar10", "auto")])
def test_evaluator_scores_on_inception_features(tmp_path, monkeypatch, random_release, name,
                                                extractor):
  """Grayscale MNIST-5k (asked for) and CIFAR-10 (tfds mock data; auto) through
  the random-weights Inception, from an explicit path; a 75x75 input keeps it
  fast (the 299 path is checked above); FID records the features it is given."""
  release, path = random_release
  fid_inputs = []
  real_fid = evaluation.metrics.fid.fid

  def recording_fid(*, real_features, fake_features):
    fid_inputs.append((np.array(real_features), np.array(fake_features)))
    return real_fid(real_features=real_features, fake_features=fake_features)

  monkeypatch.setattr(evaluation.metrics.fid, "fid", recording_fid)
  monkeypatch.setattr(inception, "FID_WEIGHTS", release)
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
  load = inception.load_inception
  monkeypatch.setattr(inception, "load_inception", lambda **kw: dataclasses.replace(
      load(**kw), input_size=75))
  config = base.get_config()
  config.dataset.update(name=name, source="tfds" if name == "cifar10" else "default")
  config.eval.update(num_samples=12, extractor=extractor, inception_weights=path)
  with tfds.testing.mock_data(num_examples=20):  # only cifar10 reads through tfds
    evaluator = evaluation.Evaluator(config, data.get_dataset(config.dataset))
    test_images = evaluator.dataset.real_samples(split="test", num=12, seed=0)
  assert evaluator.info == {"num_fake": 12, "extractor": "inception-random-seed0-"
                            + release.sha256[:12], "num_real": 12}
  assert evaluator.real_features.shape == (12, 2048)
  assert os.path.exists(tmp_path / "random_inception.msgpack")

  class _Real:  # a "generator" returning real test images
    def generate(self, z):
      return test_images[:len(z)]

  evaluator._generate = lambda state, z: state.generate(z)  # no jit for the stand-in
  scores = evaluator(_Real())
  keys = {"fid", "kid", "precision", "recall", "score", "score_std"}
  assert {f"eval/{k}" for k in keys} <= set(scores) and {f"floor/{k}" for k in keys} <= set(scores)
  assert [(r.shape, f.shape) for r, f in fid_inputs] == [((12, 2048), (12, 2048))] * 2
  np.testing.assert_allclose(fid_inputs[1][1], fid_inputs[0][1], rtol=1e-5)  # same images
  np.testing.assert_array_equal(fid_inputs[1][0], evaluator.real_features)
  assert scores["eval/kid"] == pytest.approx(scores["floor/kid"], rel=1e-3, abs=1e-6)
  assert 1.0 <= scores["eval/score"] <= 1008


def test_the_eval_fields_have_rules():
  config_checks.check_value("eval.extractor", "inception")
  with pytest.raises(ValueError, match=r"config.eval.inception_weights must be a string, got 3"):
    config_checks.check_value("eval.inception_weights", 3)
  with pytest.raises(ValueError, match=r"eval.extractor must be one of 'auto', 'classifier', "
                     r"'inception', got 'Inception'"):
    config_checks.validate_config(base.get_config().to_dict() | {"eval": {"extractor":
                                                                          "Inception"}})


def test_a_run_recorded_before_the_fields_is_evaluated_as_before():
  recorded = base.get_config().to_dict()
  del recorded["eval"]["extractor"], recorded["eval"]["inception_weights"]
  old = ml_collections.ConfigDict(compat.upgrade_recorded(recorded))  # as load_run_config
  assert (old.eval.extractor, old.eval.inception_weights) == ("auto", "")
  assert evaluation.extractor_kind(old.eval.extractor, old.dataset.name) == "classifier"


@pytest.mark.slow
def test_a_run_without_the_inception_weights_stops_before_training(tmp_path):
  import subprocess, sys  # pylint: disable=g-import-not-at-top,multiple-imports
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  missing = tmp_path / "pt_inception.pth"
  workdir = tmp_path / "run"
  out = subprocess.run(
      [sys.executable, os.path.join(root, "launch.py"),
       "--config=experiments/seed004_mlp.py:vanilla,mnist_5k,runlocal", f"--workdir={workdir}",
       "--config.eval.extractor=inception", f"--config.eval.inception_weights={missing}",
       "--config.eval.every_steps=2"],
      cwd=root, capture_output=True, text=True, timeout=300,
      env={**os.environ, "GAN_JAX_CACHE": str(tmp_path / "cache")})
  assert out.returncode == 1, out.stderr[-2000:]
  last = out.stderr.strip().splitlines()[-1]
  assert last == f"gan_jax: WeightsNotFoundError: no Inception weights file at {missing}", last
  assert "Traceback" not in out.stderr and "step 1" not in out.stderr
  assert not (workdir / "config.json").exists() and not (workdir / "checkpoints").exists()


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["dcgan_cifar10", "resnet_celeba"])
def test_rgb_experiment_trains_and_scores_itself_offline_end_to_end(tmp_path, monkeypatch,
                                                                     random_release, experiment):
  """The stock tfds path (tfds's own mock data, no download) into DCGAN-32 / the
  ResNet, scored by the Inception port from a weights file of seeded random
  values through the loader and digest check a real file takes."""
  import importlib  # pylint: disable=g-import-not-at-top
  from gan_jax import train, writers  # pylint: disable=g-import-not-at-top
  release, path = random_release
  monkeypatch.setattr(inception, "FID_WEIGHTS", release)  # the digest the file must have
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path / "cache"))
  config = importlib.import_module(f"experiments.{experiment}").get_config("runlocal")
  assert config.eval.extractor == "inception" and config.eval.every_steps > 0
  config.eval.update(every_steps=2, num_samples=10, batch_size=10, inception_weights=path)
  config.train.num_steps = 2
  with tfds.testing.mock_data(num_examples=24):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  rows = [r for r in writers.read_metrics(str(tmp_path / "run")) if "eval/fid" in r]
  assert len(rows) == 1 and rows[0]["step"] == 2
  row = rows[0]
  assert row["extractor"] == "inception-random-seed0-" + release.sha256[:12]
  assert row["num_fake"] == row["num_real"] == 10
  for key in ("fid", "kid", "precision", "recall", "score"):
    assert np.isfinite(row[f"eval/{key}"]) and np.isfinite(row[f"floor/{key}"])
  assert row["eval/fid"] > row["floor/fid"] >= 0  # an untrained G is further than real images
  assert 1.0 <= row["eval/score"] <= 1008
