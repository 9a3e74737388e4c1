"""The CycleGAN trainer's config (`config.trainer = 'cyclegan'`): every field
gan_jax/cyclegan reads, with its default; experiments/cyclegan_fashion_mnist.py
starts from it."""

from __future__ import annotations

import ml_collections

from gan_jax.configs import base


def get_config() -> ml_collections.ConfigDict:
  """The complete CycleGAN config: sneakers (A) <-> ankle boots (B) of Fashion-MNIST."""
  config = ml_collections.ConfigDict()
  config.trainer = "cyclegan"
  config.seed = 0

  config.data = ml_collections.ConfigDict(dict(
      name="fashion_mnist",
      source="debian",          # Debian's dataset-fashion-mnist (offline); 'tfds' online
      data_dir="",              # "" = the source's default folder
      domain_a=(7,),            # Sneaker
      domain_b=(9,),            # Ankle boot
      batch_size=16,            # images of each domain per step
      num_grid_images=8,        # test images of each domain in the translation grid
  ))
  config.model = ml_collections.ConfigDict(dict(
      gen_features=16,          # the generator's first-layer channels
      num_res_blocks=3,
      num_downsamplings=2,      # generator and discriminator: 28 -> 7
      disc_features=16,         # the discriminator's first-layer channels
      conv_impl="auto",         # gan_jax.conv: the fast CPU path on CPU, XLA's on GPU
  ))
  config.loss = ml_collections.ConfigDict(dict(
      cycle_weight=10.0,        # lambda
      identity_scale=0.5,       # identity weight = identity_scale * lambda
  ))
  config.optimizer = base.optimizer_config(  # all four networks (gan_jax/optimizers.py)
      learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)
  config.pool = ml_collections.ConfigDict(dict(
      size=50,                  # stored fakes per discriminator (0: no pool)
      share=0.5,                # share of D's fake batch swapped with stored fakes
  ))
  config.log = base.log_config()
  config.train = ml_collections.ConfigDict(dict(
      num_steps=5000,
      log_every=50,
      sample_every=500,         # translation grid PNG (and at the last step)
      checkpoint_every=500,
      max_checkpoints=2,
      progress_bar=True,
      max_param_magnitude=1e6,  # > 0: no checkpoint of a state with a |weight| above it (0: off)
  ))
  return config


def runlocal(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A tiny model, batch 4 and a few steps: tests and smoke runs."""
  config.data.batch_size = 4
  config.data.num_grid_images = 3
  config.model.update(gen_features=4, num_res_blocks=1, disc_features=4)
  config.pool.size = 6
  config.train.update(num_steps=6, log_every=2, sample_every=3, checkpoint_every=3,
                      progress_bar=False)
  return config
