"""The ResNet of Mescheder et al. (2018) on CelebA 64x64 with R1 (gamma 20).

As in GAN_stability's defaults: the non-saturating ("standard") loss, R1 on
real data with their reg_param 10, which is gamma = 20 here (GAN_stability
adds reg_param * ||grad_x D(x_real)||^2, the step gamma/2 times the same;
tests/test_reg_param.py runs both on one D),
RMSprop(1e-4, alpha 0.99, eps 1e-8) for both networks, batch 64, one D step
per G step, latent size 256, nf = 64 capped at nf_max = 512, residual branches
scaled by 0.1. CelebA comes from the stock tfds builder (center crop 140x140,
resized to 64x64; see gan_jax.data.images), so the first run needs the network.

As GAN_stability does, samples and evaluation use an exponential moving
average of G (beta 0.999).

`--config=experiments/resnet_celeba.py[:runlocal]`: runlocal shrinks the widths
and the batch so a step (with the nested-grad penalty) takes seconds on a CPU.
"""

from __future__ import annotations

from gan_jax.configs import args, base


def get_config(arg: str | None = None):
  _, runlocal = args.parse(arg, fields=[], where="resnet_celeba.py")
  config = base.get_config()
  config.dataset.name = "celeb_a"
  config.dataset.source = "tfds"
  config.dataset.batch_size = 64
  config.model.name = "resnet"
  config.model.latent_dim = 256
  config.model.resnet.nf = 64
  config.model.resnet.nf_max = 512
  config.model.resnet.res_ratio = 0.1
  config.objective = "non_saturating"
  config.num_critic_steps = 1
  config.penalty.update(name="r1", weight=20.0)  # gamma; GAN_stability's reg_param 10
  config.tricks.ema_decay = 0.999
  for opt in (config.optimizer_g, config.optimizer_d):
    opt.update(name="rmsprop", learning_rate=1e-4, decay=0.99, eps=1e-8)
  # FID / IS / KID / precision-recall on FID-Inception features (docs/inception.md), the
  # weights checked at start-up; 10,000 samples for progress. The papers' number:
  # --config.eval.num_samples=50000 (the real side is capped by the test split's size;
  # each row records num_fake and num_real).
  config.eval.update(every_steps=10000, num_samples=10_000, extractor="inception")
  config.train.num_steps = 100_000
  config.train.log_every = 100
  config.train.sample_every = 1000
  config.train.checkpoint_every = 5000
  if runlocal:
    base.runlocal(config)
    config.model.resnet.nf = 8
    config.model.resnet.nf_max = 32
    config.model.latent_dim = 16
  return config
