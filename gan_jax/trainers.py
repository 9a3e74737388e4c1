"""TRAINERS: the trainers `runloop.run` drives, by `config.trainer`.

  gan       gan_jax/train.py: every objective, penalty, trick and model
            (config: gan_jax/configs/base.py)
  cyclegan  gan_jax/cyclegan/train.py: unpaired translation
            (config: gan_jax/configs/cyclegan.py)

`launch.py` / `gan-jax-train` runs whichever the config names.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from gan_jax import registry
from gan_jax import runloop
from gan_jax import train as gan_train
from gan_jax.cyclegan import train as cyclegan_train

TRAINERS: registry.Registry[runloop.Trainer] = registry.Registry("trainer")
TRAINERS.register("gan", gan_train.GANTrainer())
TRAINERS.register("cyclegan", cyclegan_train.CycleGANTrainer())


def trainer_of(config: ml_collections.ConfigDict) -> runloop.Trainer:
  """The trainer `config.trainer` names.

  Raises:
    ConfigError: an unknown name (the message lists the trainers).
  """
  from gan_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  try:
    return TRAINERS.get(config.trainer)
  except ValueError as e:
    raise ConfigError(f"config.trainer: {e}") from None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       allow_config_change: bool = False) -> Any:
  """Trains `config` with its trainer into `workdir` (`runloop.run`)."""
  return runloop.run(trainer_of(config), config, workdir,
                     allow_config_change=allow_config_change)
