"""Small MLP GAN on the ring of 8 Gaussians (2-D).

`--config=experiments/toy_ring.py:[<variant>][,runlocal]`, variant an
objective name (default non_saturating) or a stabiliser on top of the
non-saturating GAN:
  unrolled    G's loss through 5 unrolled D updates (Metz et al. 2017)
  minibatch   minibatch discrimination in D (Salimans et al. 2016)
  r1          R1 penalty, gamma 1 (Mescheder et al. 2018)
Adam(1e-3, b1 0.5, b2 0.999) for both players, batch 256, 2,000 generator
steps, modes scored every 500 steps.
"""

from __future__ import annotations

from gan_jax.configs import args, base
from gan_jax import losses

VARIANTS = ("unrolled", "minibatch", "r1")


def get_config(arg: str | None = None):
  values, runlocal = args.parse(
      arg, fields=[("variant", (*losses.OBJECTIVES.names(), *VARIANTS), "non_saturating")],
      where="toy_ring.py")
  config = base.get_config()
  config.dataset.name = "ring"
  config.dataset.batch_size = 256
  config.model.name = "mlp"
  config.model.latent_dim = 16
  config.model.mlp.g_hidden = (128, 128, 128)
  config.model.mlp.d_hidden = (128, 128, 128)
  config.model.mlp.dropout_rate = 0.0
  config.model.mlp.output_activation = "none"
  variant = values["variant"]
  config.objective = "non_saturating" if variant in VARIANTS else variant
  if variant == "unrolled":
    config.tricks.unrolled_steps = 5
  elif variant == "minibatch":
    config.model.mlp.minibatch_kernels = 16
  elif variant == "r1":
    config.penalty.update(name="r1", weight=1.0)
  for opt in (config.optimizer_g, config.optimizer_d):
    opt.learning_rate = 1e-3
  config.train.num_steps = 2000
  config.train.log_every = 100
  config.train.sample_every = 500
  config.train.checkpoint_every = 1000
  config.train.num_grid_samples = 2000
  config.eval.every_steps = 500
  config.eval.num_samples = 2000
  if runlocal:
    base.runlocal(config)
  return config
