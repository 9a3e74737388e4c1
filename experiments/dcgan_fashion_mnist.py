"""The main job: seed-000 DCGAN-28, non-saturating loss, on Fashion-MNIST.

Adam(2e-4, b1 0.5) for both networks, batch 64, one critic step, as in the
TensorFlow DCGAN tutorial; 800 generator steps (about 0.85 epoch), sized to
finish in under 10 minutes on a 2-core CPU, scored every 200 steps on 2,000
samples with the in-domain extractor. `--config=experiments/dcgan_fashion_mnist.py:runlocal`
gives a tiny smoke run.
"""

from __future__ import annotations

from experiments import base


def get_config(arg: str | None = None):
  config = base.get_config()
  config.dataset.name = "fashion_mnist"
  config.model.name = "dcgan28"
  config.objective = "non_saturating"
  config.train.num_steps = 800
  config.train.sample_every = 100
  config.train.checkpoint_every = 200
  config.eval.every_steps = 200
  config.eval.num_samples = 2000
  if arg == "runlocal":
    base.runlocal(config)
  elif arg:
    raise ValueError(f"Unknown config argument {arg!r}; valid choices: runlocal")
  return config
