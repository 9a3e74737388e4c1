"""Small MLP GAN on the ring of 8 Gaussians (2-D).

`--config=experiments/toy_ring.py:<objective>` picks the objective (default
non_saturating); the toy default is Adam(1e-3, b1 0.5, b2 0.999) for both players,
batch 256, 2,000 generator steps.
"""

from __future__ import annotations

from experiments import base


def get_config(arg: str | None = None):
  config = base.get_config()
  config.dataset.name = "ring"
  config.dataset.batch_size = 256
  config.model.name = "mlp"
  config.model.latent_dim = 16
  config.model.g_hidden = (128, 128, 128)
  config.model.d_hidden = (128, 128, 128)
  config.model.dropout_rate = 0.0
  config.model.output_activation = "none"
  config.objective = arg or "non_saturating"
  for opt in (config.optimizer_g, config.optimizer_d):
    opt.learning_rate = 1e-3
  config.train.num_steps = 2000
  config.train.log_every = 100
  config.train.sample_every = 500
  config.train.checkpoint_every = 1000
  config.train.num_grid_samples = 2000
  return config
