"""Trains CycleGAN: the absl entry point (thin, like launch.py).

  python -m gan_jax.cyclegan.launch --config=experiments/cyclegan_fashion_mnist.py \
      --workdir=workdirs/cyclegan

Overrides go on the command line (`--config.train.num_steps=500`); the config
is locked, so a misspelt field is an error. Rerunning the command resumes the
workdir from its latest checkpoint. Errors of input or of the run folder print
as one line (gan_jax/cli.py); SIGTERM / Ctrl-C save a checkpoint and exit
143 / 130.
"""

from __future__ import annotations

import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from gan_jax import cli
from gan_jax.cyclegan import train


class QuietLibraries(logging.logging.Filter):
  """Drops orbax's per-save INFO chatter and JAX's backend probing (as launch.py
  does); their warnings and errors still show."""

  def filter(self, record):
    return record.levelno >= logging.logging.WARNING or not (
        "/orbax/" in record.pathname or record.pathname.endswith("xla_bridge.py"))


def define_flags() -> None:
  """--config and --workdir (only when run as a program, so importing this
  module beside another entry point defines no duplicate flags)."""
  config_flags.DEFINE_config_file(
      "config", None, "CycleGAN config file (experiments/cyclegan_fashion_mnist.py[:runlocal]).",
      lock_config=True)
  flags.DEFINE_string("workdir", None, "Folder for checkpoints, metrics and grids.")
  flags.mark_flags_as_required(["config", "workdir"])


@cli.user_errors_as_one_line
def main(argv):
  logging.get_absl_handler().addFilter(QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected command-line arguments: {argv[1:]}")
  train.train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)


def run_program() -> None:
  if os.getcwd() not in sys.path:  # config files import `experiments` as a package
    sys.path.insert(0, os.getcwd())
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run_program()
