"""Shared test set-up: the persistent compilation cache and small configs."""

import os
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)  # `experiments` is a top-level folder, not installed.

# Compiled XLA programs are reused across test processes and runs.
jax.config.update("jax_compilation_cache_dir",
                  os.environ.get("JAX_COMPILATION_CACHE_DIR", os.path.join(ROOT, ".jax_cache")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture
def runlocal_config():
  """The main experiment shrunk to a few seconds (dcgan28 on Fashion-MNIST)."""
  from experiments import dcgan_fashion_mnist  # pylint: disable=g-import-not-at-top
  return dcgan_fashion_mnist.get_config("runlocal")
