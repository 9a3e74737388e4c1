"""Packaging: dependency ranges agree with the lock, the entry points run, the
wheel carries the config schema and the shipped extractor weights."""

import importlib.metadata
import os
import subprocess
import sys
import tomllib
import zipfile

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ("gan-jax-train", "gan-jax-evaluate", "gan-jax-sample", "gan-jax-compare",
           "gan-jax-lab")


def _pyproject() -> dict:
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    return tomllib.load(f)


def _lock() -> dict[str, str]:
  pins = {}
  with open(os.path.join(ROOT, "requirements.lock")) as f:
    for line in f:
      line = line.split("#")[0].strip()
      if line:
        name, version = line.split("==")
        pins[canonicalize_name(name)] = version
  return pins


def test_dependencies_are_ranges_that_the_locked_versions_satisfy():
  project = _pyproject()["project"]
  requirements = [Requirement(r) for r in project["dependencies"]]
  requirements += [Requirement(r) for r in project["optional-dependencies"]["test"]]
  pins = _lock()
  for req in requirements:
    assert not any(s.operator == "==" for s in req.specifier), f"{req} is pinned"
    name = canonicalize_name(req.name)
    assert name in pins, f"{req.name} is missing from requirements.lock"
    assert req.specifier.contains(pins[name]), f"lock {name}=={pins[name]} is outside {req}"


def test_the_lock_is_what_this_venv_runs():
  pins = _lock()
  for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy"):
    assert importlib.metadata.version(name) == pins[name], name


def test_console_scripts_point_at_run_program_functions():
  found = {ep.name: ep for ep in importlib.metadata.entry_points(group="console_scripts")
           if ep.name.startswith("gan-jax-")}
  assert sorted(found) == sorted(SCRIPTS)
  for ep in found.values():
    assert ep.value.endswith(":run_program")
    assert callable(ep.load())


@pytest.mark.slow
def test_train_entry_point_imports_configs_from_the_current_directory(tmp_path):
  # experiments/toy_modes.py imports experiments.toy_ring: found through the cwd.
  # The override that names no field stops it before any training.
  script = os.path.join(os.path.dirname(sys.executable), "gan-jax-train")
  out = subprocess.run([script, "--config=experiments/toy_modes.py:r1,ring",
                        f"--workdir={tmp_path}", "--config.no_such_field=1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert out.returncode == 2, out.stderr
  assert out.stderr.strip().splitlines()[-1].startswith(
      "gan_jax: ConfigError: an override names no config field ('no_such_field')")


@pytest.mark.slow
def test_wheel_holds_the_schema_the_weights_and_the_entry_points(tmp_path):
  had_build = os.path.exists(os.path.join(ROOT, "build"))
  out = subprocess.run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q",
                        "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
  if out.returncode and "Could not find a version that satisfies" in out.stderr:
    pytest.skip("no setuptools for the isolated build (offline)")
  assert out.returncode == 0, out.stderr
  (wheel,) = tmp_path.glob("gan_jax-*.whl")
  with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
  assert "gan_jax/configs/base.py" in names
  assert any(n.startswith("gan_jax/metrics/weights/") and n.endswith(".msgpack") for n in names)
  assert not any(n.startswith(("tests/", "experiments/")) for n in names)
  for script in SCRIPTS:
    assert f"{script} = " in entry_points
  if not had_build:  # setuptools' scratch folder in the source tree
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(os.path.join(ROOT, "build"), ignore_errors=True)
