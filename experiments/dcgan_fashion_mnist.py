"""The main job: seed-000 DCGAN-28, non-saturating loss, on Fashion-MNIST.

Adam(2e-4, b1 0.5) for both networks, batch 64, one critic step, as in the
TensorFlow DCGAN tutorial. `--config=experiments/dcgan_fashion_mnist.py:runlocal`
gives a tiny smoke run.
"""

from __future__ import annotations

from experiments import base


def get_config(arg: str | None = None):
  config = base.get_config()
  config.dataset.name = "fashion_mnist"
  config.model.name = "dcgan28"
  config.objective = "non_saturating"
  config.train.num_steps = 1000
  if arg == "runlocal":
    base.runlocal(config)
  elif arg:
    raise ValueError(f"Unknown config argument {arg!r}; valid choices: runlocal")
  return config
