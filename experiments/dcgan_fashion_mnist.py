"""The main job: seed-000 DCGAN-28, non-saturating loss, on Fashion-MNIST.

Trained to quality on a 2-core CPU: batch 32, one critic step, Adam(4e-4,
b1 0.5) for both networks, both updates on the same latents (one G forward
pass, `share_latents`), 12,000 generator steps (6.4 epochs), samples and
scores from an EMA of G (decay 0.995), scored every 1,000 steps on 2,000
samples with the in-domain extractor. How each setting was chosen (one change
at a time; `tricks.ema_candidates` scores several EMAs in one run) is in
results/main_job/README.md.
`experiments/seed000_table1.py:dcgan` keeps the seed's exact settings (batch
50, lr 2e-4, no EMA). `--config=experiments/dcgan_fashion_mnist.py:runlocal`
gives a tiny smoke run.
"""

from __future__ import annotations

from gan_jax.configs import args, base


def get_config(arg: str | None = None):
  _, runlocal = args.parse(arg, fields=[], where="dcgan_fashion_mnist.py")
  config = base.get_config()
  config.dataset.name = "fashion_mnist"
  config.model.name = "dcgan28"
  config.objective = "non_saturating"
  config.share_latents = True
  for opt in (config.optimizer_g, config.optimizer_d):
    opt.learning_rate = 4e-4
  config.dataset.batch_size = 32
  config.tricks.ema_decay = 0.995
  config.train.num_steps = 12000
  config.train.log_every = 100
  config.train.sample_every = 1000
  config.train.checkpoint_every = 1000
  config.eval.every_steps = 1000
  config.eval.num_samples = 2000
  if runlocal:
    base.runlocal(config)
  return config
