"""Class-conditional GANs: projection discriminator or AC-GAN.

`--config=experiments/conditional.py:<method>[,<dataset>][,runlocal]` with
method projection (Miyato & Koyama 2018) or acgan (Odena et al. 2017) and
dataset fashion_mnist (default), mnist_5k, mnist or cifar10.

Everything else is seed 000's DCGAN (`seed000_table1.py:dcgan`): the DCGAN-28
pair (DCGAN-32 for CIFAR-10), the non-saturating loss, batch 50, Adam 2e-4,
b1 0.5 for both networks, so a conditional run compares with the seed's
unconditional one at the same budget. G gets the one-hot class appended to z;
D the projection term or the auxiliary class head (class loss weight 1, as
in the AC-GAN paper). The grid has 100 samples, one class per row; each
evaluation adds the requested-class accuracy of the in-domain classifier and
the intra-class FID (`gan_jax.evaluation`).
"""

from __future__ import annotations

from experiments import seed000_table1
from gan_jax.configs import args, base

METHODS = ("projection", "acgan")
DATASETS = ("fashion_mnist", "mnist_5k", "mnist", "cifar10")


def get_config(arg: str | None = None):
  values, runlocal = args.parse(arg, fields=[("method", METHODS, "projection"),
                                             ("dataset", DATASETS, "fashion_mnist")],
                                where="conditional.py")
  dataset = values["dataset"]
  config = seed000_table1.get_config(
      "dcgan," + ("fashion_mnist" if dataset == "cifar10" else dataset))
  if dataset == "cifar10":
    config.dataset.update(name="cifar10", source="tfds")
    config.model.name = "dcgan32"
  config.conditioning.method = values["method"]
  config.conditioning.num_classes = 10
  config.train.num_grid_samples = 100
  if runlocal:
    base.runlocal(config)
    config.train.num_grid_samples = 20
    if dataset == "cifar10":
      config.model.dcgan.nf = 8
      config.model.latent_dim = 16
  return config
