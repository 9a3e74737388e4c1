"""Seed 000 ("GAN training algorithms"), Table 1: DCGAN vs WGAN vs WGAN-GP.

All three use the DCGAN-28 pair and batch 50; they differ in objective,
critic steps and optimizers exactly as in the report:

| algo    | objective      | k | optimizer (G and D)        | extra                  |
|---------|----------------|---|----------------------------|------------------------|
| dcgan   | non_saturating | 1 | Adam 2e-4, b1 0.5          | -                      |
| wgan    | wasserstein    | 5 | RMSprop 5e-5               | clip D to [-0.01, 0.01]|
| wgan_gp | wasserstein    | 5 | Adam 1e-4, b1 0.5, b2 0.9  | GP lambda 10           |

`--config=experiments/seed000_table1.py:<algo>[,<dataset>][,runlocal]` with
dataset fashion_mnist (default), mnist_5k or mnist. The step budget (1,000
generator steps, scored every 100) is sized for a 2-core CPU; the report
trained longer.
"""

from __future__ import annotations

from gan_jax.configs import base

ALGOS = ("dcgan", "wgan", "wgan_gp")
DATASETS = ("fashion_mnist", "mnist_5k", "mnist")


def parse_arg(arg: str | None, *, choices: tuple[str, ...], default: str,
              datasets: tuple[str, ...], default_dataset: str) -> tuple[str, str, bool]:
  """'<algo>[,<dataset>][,runlocal]' -> (algo, dataset, runlocal); ValueError otherwise."""
  parts = [p for p in (arg or default).split(",") if p]
  runlocal = "runlocal" in parts
  parts = [p for p in parts if p != "runlocal"]
  algo = parts[0] if parts else default
  dataset = parts[1] if len(parts) > 1 else default_dataset
  if algo not in choices or dataset not in datasets or len(parts) > 2:
    raise ValueError(f"Bad config argument {arg!r}: expected '<algo>[,<dataset>][,runlocal]' "
                     f"with algo in {', '.join(choices)} and dataset in {', '.join(datasets)}")
  return algo, dataset, runlocal


def get_config(arg: str | None = None):
  algo, dataset, runlocal = parse_arg(arg, choices=ALGOS, default="dcgan",
                                      datasets=DATASETS, default_dataset="fashion_mnist")
  config = base.get_config()
  config.dataset.name = dataset
  config.dataset.batch_size = 50
  config.model.name = "dcgan28"
  if algo == "dcgan":
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
