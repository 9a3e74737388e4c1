"""2-D follow-up to the Dirac-GAN: do its regularizers help a real GAN cover the modes?

`--config=experiments/toy_modes.py:<method>[,<dataset>][,runlocal]`, dataset
ring (8 Gaussians, default) or grid (5x5 Gaussians). Every method is the
non-saturating MLP GAN of experiments/toy_ring.py with Adam(5e-4, b1 0.5)
for both players, batch 256, plus one of the Dirac-GAN lab's regularizers
that training has (its weight in brackets):

  none            unregularized
  r1              R1, gamma 1 (the step adds gamma/2 ||grad D(x)||^2 on real x)
  r2              R2, gamma 1 (the same on fake x)
  zero_centered   zero-centred GP on interpolates, weight 1
  dragan          DRAGAN, lambda 10
  instance_noise  Gaussian noise on every D input, sigma 0.1
  consensus       consensus optimization, gamma 1
  r1_gamma<g>     R1 with gamma g, for g in R1_GAMMAS (the sweep on the ring: its
                  modes have std 0.02, so gamma 1 may be a strong penalty there)

Covered modes (strict: >= 20 samples within 3 std; loose: within 10 std) are
scored on 2,500 samples every 1,000 of the 20,000 generator steps by
`train_and_evaluate`'s evaluation, so the report's table and
`launch.py --config=experiments/toy_modes.py:r1,ring` give the same numbers.
"""

from __future__ import annotations

from gan_jax.configs import args, base
from experiments import toy_ring

METHODS = ("none", "r1", "r2", "zero_centered", "dragan", "instance_noise", "consensus")
R1_GAMMAS = (0.01, 0.1, 10.0)
SWEEP = tuple(f"r1_gamma{g:g}" for g in R1_GAMMAS)
DATASETS = ("ring", "grid")
PENALTIES = {"r1": 1.0, "r2": 1.0, "zero_centered": 1.0, "dragan": 10.0,
             **{f"r1_gamma{g:g}": g for g in R1_GAMMAS}}


def get_config(arg: str | None = None):
  values, runlocal = args.parse(arg, fields=[("method", METHODS + SWEEP, "none"),
                                             ("dataset", DATASETS, "ring")],
                                where="toy_modes.py")
  method, dataset = values["method"], values["dataset"]
  config = toy_ring.get_config("non_saturating")
  config.dataset.name = dataset
  if method in PENALTIES:
    config.penalty.update(name=method.split("_gamma")[0], weight=PENALTIES[method])
  elif method == "instance_noise":
    config.tricks.instance_noise_std = 0.1
  elif method == "consensus":
    config.tricks.consensus = 1.0
  for opt in (config.optimizer_g, config.optimizer_d):
    opt.learning_rate = 5e-4
  config.train.num_steps = 20000
  config.train.log_every = 500
  config.train.sample_every = 5000
  config.train.checkpoint_every = 1000
  config.train.num_grid_samples = 2500
  config.eval.every_steps = 1000
  config.eval.num_samples = 2500
  if runlocal:
    base.runlocal(config)
    config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16,)
  return config
