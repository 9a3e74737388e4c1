"""CycleGAN on two Fashion-MNIST domains: sneakers (A) <-> ankle boots (B).

  python launch.py --config=experiments/cyclegan_fashion_mnist.py --workdir=workdirs/cyclegan

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
from gan_jax.configs import cyclegan

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The complete CycleGAN config (gan_jax/configs/cyclegan.py)."""
  _, runlocal = args.parse(arg, fields=[], where="cyclegan_fashion_mnist.py")
  config = cyclegan.get_config()
  return cyclegan.runlocal(config) if runlocal else config
