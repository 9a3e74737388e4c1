"""Seed 000 ("GAN training algorithms"), Table 1: DCGAN vs WGAN vs WGAN-GP.

All three use the DCGAN-28 pair and batch 50; they differ in objective,
critic steps and optimizers exactly as in the report:

| algo    | objective      | k | optimizer (G and D)        | extra                  |
|---------|----------------|---|----------------------------|------------------------|
| dcgan   | non_saturating | 1 | Adam 2e-4, b1 0.5          | -                      |
| wgan    | wasserstein    | 5 | RMSprop 5e-5               | clip D to [-0.01, 0.01]|
| wgan_gp | wasserstein    | 5 | Adam 1e-4, b1 0.5, b2 0.9  | GP lambda 10           |

`dcgan_sn` is `dcgan` with a spectrally normalized discriminator
(`model.d_spectral_norm`; Miyato et al. 2018), the report's SN-vs-no-SN pair;
it is not one of the seed's algorithms (`ALGOS`).

`--config=experiments/seed000_table1.py:<algo>[,<dataset>][,runlocal]` with
dataset fashion_mnist (default), mnist_5k or mnist. The step budget (1,000
generator steps, scored every 100) is sized for a 2-core CPU; the report
trained longer.
"""

from __future__ import annotations

from gan_jax.configs import args, base

ALGOS = ("dcgan", "wgan", "wgan_gp")
VARIANTS = ("dcgan_sn",)  # not the seed's: see the docstring
DATASETS = ("fashion_mnist", "mnist_5k", "mnist")


def get_config(arg: str | None = None):
  values, runlocal = args.parse(arg, fields=[("algo", ALGOS + VARIANTS, "dcgan"),
                                             ("dataset", DATASETS, "fashion_mnist")],
                                where="seed000_table1.py")
  algo, dataset = values["algo"], values["dataset"]
  config = base.get_config()
  config.dataset.name = dataset
  config.dataset.batch_size = 50
  config.model.name = "dcgan28"
  if algo in ("dcgan", "dcgan_sn"):
    config.model.d_spectral_norm = algo == "dcgan_sn"
    config.objective = "non_saturating"
    config.num_critic_steps = 1
    for opt in (config.optimizer_g, config.optimizer_d):
      opt.update(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999)
  elif algo == "wgan":
    config.objective = "wasserstein"
    config.num_critic_steps = 5
    config.weight_clip = 0.01
    for opt in (config.optimizer_g, config.optimizer_d):
      opt.update(name="rmsprop", learning_rate=5e-5)
  else:
    config.objective = "wasserstein"
    config.num_critic_steps = 5
    config.penalty.update(name="wgan_gp", weight=10.0)
    for opt in (config.optimizer_g, config.optimizer_d):
      opt.update(name="adam", learning_rate=1e-4, b1=0.5, b2=0.9)
  config.train.num_steps = 1000
  config.train.sample_every = 100
  config.eval.every_steps = 100
  if runlocal:
    base.runlocal(config)
  return config
