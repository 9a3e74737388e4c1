# gan_jax: `make train` runs the main job, `make test` the tests; both set up
# everything first (venv, the locked packages, Debian's Fashion-MNIST).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= workdirs/dcgan_fashion_mnist
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.jax_cache

.PHONY: help setup data train test test-fast clean

help:  ## this list
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

setup: $(VENV)/.installed  ## create .venv and install the locked packages (requirements.lock)

$(FASHION_MNIST):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist

data: $(FASHION_MNIST)  ## apt-get install dataset-fashion-mnist (offline Fashion-MNIST)

train: setup data  ## the main job into $(WORKDIR) (resumes if it has checkpoints)
	$(PY) launch.py --config=experiments/dcgan_fashion_mnist.py --workdir=$(WORKDIR)

test: setup data  ## the test suite, one pytest worker per core (pytest-xdist), a file per worker
	$(PY) -m pytest tests -n auto --dist loadfile --durations=20

test-fast: setup data  ## the fast tier (formulas, registries, config checks): no `slow` tests
	$(PY) -m pytest tests -m "not slow" -n auto --dist loadfile --durations=10

clean:  ## delete .venv, the compilation cache and workdirs/
	rm -rf $(VENV) .jax_cache workdirs
