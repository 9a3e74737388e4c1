"""CycleGAN on two Fashion-MNIST domains: sneakers (A) <-> ankle boots (B).

  python -m gan_jax.cyclegan.launch --config=experiments/cyclegan_fashion_mnist.py \
      --workdir=workdirs/cyclegan

Args (after the colon): `[runlocal]`
  runlocal  a tiny model, batch 4 and a few steps, for tests and smoke runs.
Overrides go on the command line, e.g. `--config.data.domain_b='(5,)'`
(sandals) or `--config.train.num_steps=500`; the config is locked.

The paper's settings (Zhu et al. 2017): least-squares adversarial losses,
cycle weight lambda = 10, identity weight 0.5 lambda, Adam 2e-4 with
b1 = 0.5, a pool of 50 fakes per discriminator. Differences, for 28x28
grey images on a 2-core CPU: a narrower ResNet generator (3 residual blocks
at 7x7) and a smaller PatchGAN, batch 16 instead of 1, a constant learning
rate (the paper decays it linearly to 0 over its second 100 epochs), and a
pool that swaps a fixed half of each fake batch with stored fakes (the
paper's pool swaps each image with probability 1/2).
"""

from __future__ import annotations

import ml_collections

from gan_jax.configs import args

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The complete CycleGAN config (every field the cyclegan package reads)."""
  _, runlocal = args.parse(arg, fields=[], where="cyclegan_fashion_mnist.py")
  config = ml_collections.ConfigDict()
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
  config.optimizer = ml_collections.ConfigDict(dict(
      learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8))  # all four networks
  config.pool = ml_collections.ConfigDict(dict(
      size=50,                  # stored fakes per discriminator (0: no pool)
      share=0.5,                # share of D's fake batch swapped with stored fakes
  ))
  config.train = ml_collections.ConfigDict(dict(
      num_steps=5000,
      log_every=50,
      sample_every=500,         # translation grid PNG (and at the last step)
      checkpoint_every=500,
      max_checkpoints=2,
  ))

  if runlocal:
    config.data.batch_size = 4
    config.data.num_grid_images = 3
    config.model.update(gen_features=4, num_res_blocks=1, disc_features=4)
    config.pool.size = 6
    config.train.update(num_steps=6, log_every=2, sample_every=3, checkpoint_every=3)
  return config
