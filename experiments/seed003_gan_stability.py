"""Seed 003's image experiments: GAN_stability's training settings on CIFAR-10 and CelebA.

`--config=experiments/seed003_gan_stability.py[:<dataset>][,<reg>][,runlocal]`
  dataset  cifar10 (default) | celeb_a    (the seed's datasets, minus 2-D and
           CelebA-HQ 1024x1024: CelebA at 64x64 through tfds is the stand-in)
  reg      wgangp (default, the config the seed prints) | r1 | none
  runlocal tiny widths and a few steps, for tests and smoke runs
Every setting quotes the seed (../shared/seeds/003_ddfdca15afdf3d75.txt, the
GAN_stability config it prints under "Experimental Results"):

  gan_type: standard          -> objective non_saturating (GAN_stability's
                                 'standard' loss: BCE with logits, G on target 1)
  reg_type: wgangp            -> penalty wgan_gp on interpolates, weight 10
  reg_param: 10.              -> wgan_gp lambda 10; for reg r1 (their
                                 reg_type 'real') gamma 20, as their code adds
                                 reg_param * ||grad D||^2 and we gamma / 2 of it
                                 (tests/test_reg_param.py)
  batch_size: 64              -> dataset.batch_size 64
  take_model_average: true,
  model_average_beta: 0.999   -> tricks.ema_decay 0.999 (samples and scores from it)
  optimizer: rmsprop,
  lr_g: 0.0001, lr_d: 0.0001  -> RMSprop 1e-4 for both (alpha 0.99, eps 1e-8:
                                 PyTorch's defaults, which GAN_stability keeps)
  d_steps: 1                  -> num_critic_steps 1
  dim: 256                    -> model.latent_dim 256 (the z distribution's dim)
  lr_anneal: 1.               -> a constant learning rate
  test: compute_inception: true -> evaluation on FID-Inception features (IS,
                                 FID, KID, precision/recall) with G's average
The ResNet is GAN_stability's (gan_jax/models/resnet.py: nf 64, nf_max 512,
residual branches x 0.1). The seed reports one number, "Inception score:
2.4715 +- 0.0223", for GAN_stability's pretrained LSUN-bedroom model, not for
these datasets; it trains none of them itself, so these configs have no
published number of the seed to meet. 300,000 G steps (GAN_stability's
`celebA` / `cifar` defaults run until stopped; the paper's CIFAR-10 curves
end near 500k): an accelerator budget.
"""

from __future__ import annotations

from gan_jax.configs import args, base

DATASETS = ("cifar10", "celeb_a")
REGS = ("wgangp", "r1", "none")


def get_config(arg: str | None = None):
  values, runlocal = args.parse(arg, fields=[("dataset", DATASETS, "cifar10"),
                                             ("reg", REGS, "wgangp")],
                                where="seed003_gan_stability.py")
  config = base.get_config()
  config.dataset.update(name=values["dataset"], source="tfds", batch_size=64)
  config.model.name = "resnet"
  config.model.latent_dim = 256
  config.model.resnet.update(nf=64, nf_max=512, res_ratio=0.1)
  config.objective = "non_saturating"
  config.num_critic_steps = 1
  if values["reg"] == "wgangp":
    config.penalty.update(name="wgan_gp", weight=10.0)
  elif values["reg"] == "r1":
    config.penalty.update(name="r1", weight=20.0)  # reg_param 10
  config.tricks.ema_decay = 0.999
  for opt in (config.optimizer_g, config.optimizer_d):
    opt.update(name="rmsprop", learning_rate=1e-4, decay=0.99, eps=1e-8)
  config.eval.update(every_steps=10_000, num_samples=10_000, extractor="inception")
  config.train.update(num_steps=300_000, log_every=100, sample_every=1000,
                      checkpoint_every=5000)
  if runlocal:
    base.runlocal(config)
    config.model.resnet.update(nf=8, nf_max=32)
    config.model.latent_dim = 16
  return config
