"""Trains one experiment: `launch.py` / `gan-jax-train --config=experiments/X.py[:arg] --workdir=DIR`.

The config's `trainer` picks what trains (gan_jax/trainers.py: the GAN trainer,
or CycleGAN); both run the same resumable loop (gan_jax/runloop.py).

Overrides go on the command line, e.g. `--config.train.num_steps=200`; the
config is locked, so a misspelt field is an error. With `--sweep`, the config
file's `get_sweep([arg])` lists override sets (see gan_jax/sweep.py); run i
trains in DIR/<i>_<its overrides>, DIR/sweep.json maps each index to its
overrides and DIR/summary.md compares the runs (--keep_going: past a diverged run).
Errors of input or of the run folder print as one line (see gan_jax/cli.py);
SIGTERM / Ctrl-C save a checkpoint of the current step and exit 143 / 130.

A config file may import its neighbours as a package (`from experiments import
toy_ring`): the current directory is on the import path, as with `python -m`.
"""

from __future__ import annotations

import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from gan_jax import cli
from gan_jax import sweep
from gan_jax import trainers


def define_flags() -> None:
  """--config, --workdir, --sweep, --allow_config_change, --keep_going."""
  config_flags.DEFINE_config_file(
      "config", None, "Experiment config file (experiments/*.py[:arg]).", lock_config=True)
  flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs and samples.")
  flags.DEFINE_bool("sweep", False, "Train every override set of the config file's "
                    "get_sweep(), run i in workdir/<i>_<overrides>.")
  flags.DEFINE_bool(
      "allow_config_change", False, "Resume a workdir even though the config changed in a "
      "field that alters training (the old config is kept in workdir/config_history/).")
  flags.DEFINE_bool("keep_going", False, "With --sweep: a run that diverges is recorded in "
                    "the summary and the sweep goes on.")
  flags.mark_flags_as_required(["config", "workdir"])


@cli.user_errors_as_one_line
def main(argv):
  logging.get_absl_handler().addFilter(cli.QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected command-line arguments: {argv[1:]}")
  f = flags.FLAGS
  trainer = trainers.trainer_of(f.config)
  logging.info("Config: %s", trainer.describe_config(f.config))
  train_fn = lambda c, w: trainers.train_and_evaluate(
      c, w, allow_config_change=f.allow_config_change)
  if f.sweep:
    overrides = sweep.load_sweep(config_flags.get_config_filename(f["config"]))
    sweep.run_sweep(f.config, f.workdir, overrides, train_fn, keep_going=f.keep_going)
  else:
    train_fn(f.config, f.workdir)


def run_program() -> None:
  """The `gan-jax-train` entry point (and launch.py's)."""
  if os.getcwd() not in sys.path:
    sys.path.insert(0, os.getcwd())
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run_program()
