"""DCGAN-32 on CIFAR-10 with the non-saturating loss (Radford et al., 2016).

Adam(2e-4, b1 0.5) for both networks, batch 64, one critic step, widths nf = 64
(4x4x512 -> 32x32x3), batch norm in both networks, 50,000 generator steps
(about 64 epochs). CIFAR-10 comes from the stock tfds builder, so the first run
needs the network.

`--config=experiments/dcgan_cifar10.py[:<d_norm>][,runlocal]`: d_norm picks D's
normalisation (batch_norm, the default; layer_norm or none, e.g. for gradient
penalties); runlocal shrinks the widths and the batch so a step takes seconds
on a CPU.

`get_sweep()` crosses three learning rates (the same for G and D) with three
objectives: `python launch.py --config=experiments/dcgan_cifar10.py --sweep
--workdir=DIR` trains the 9 runs in DIR/<i>_<overrides> and writes DIR/summary.md.
"""

from __future__ import annotations

from gan_jax.configs import args, base
from gan_jax import sweep as sweep_lib

D_NORMS = ("batch_norm", "layer_norm", "none")
LEARNING_RATES = (1e-4, 2e-4, 4e-4)
OBJECTIVES = ("non_saturating", "hinge", "least_squares")


def get_config(arg: str | None = None):
  values, runlocal = args.parse(arg, fields=[("d_norm", D_NORMS, "batch_norm")],
                                where="dcgan_cifar10.py")
  d_norm = values["d_norm"]
  config = base.get_config()
  config.dataset.name = "cifar10"
  config.dataset.source = "tfds"
  config.dataset.batch_size = 64
  config.model.name = "dcgan32"
  config.model.latent_dim = 100
  config.model.dcgan.nf = 64
  config.model.dcgan.d_norm = d_norm
  config.objective = "non_saturating"
  config.num_critic_steps = 1
  for opt in (config.optimizer_g, config.optimizer_d):
    opt.update(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999)
  # FID / IS / KID / precision-recall on FID-Inception features (docs/inception.md), the
  # weights checked at start-up; 10,000 samples for progress. The papers' number:
  # --config.eval.num_samples=50000 (the real side is capped by the test split's size;
  # each row records num_fake and num_real).
  config.eval.update(every_steps=5000, num_samples=10_000, extractor="inception")
  config.train.num_steps = 50_000
  config.train.log_every = 100
  config.train.sample_every = 1000
  config.train.checkpoint_every = 5000
  if runlocal:
    base.runlocal(config)
    config.model.dcgan.nf = 8
    config.model.latent_dim = 16
  return config


def get_sweep(arg: str | None = None):
  """Learning rates (G and D together) x objectives: 9 override sets."""
  del arg  # The same sweep for every variant.
  learning_rates = sweep_lib.zipit(
      sweep_lib.sweep("config.optimizer_g.learning_rate", LEARNING_RATES),
      sweep_lib.sweep("config.optimizer_d.learning_rate", LEARNING_RATES))
  return sweep_lib.product(learning_rates, sweep_lib.sweep("config.objective", OBJECTIVES))
