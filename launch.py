"""Launches one experiment: python launch.py --config=experiments/X.py[:arg] --workdir=DIR

Overrides go on the command line, e.g. `--config.train.num_steps=200`; the
config is locked, so a misspelt field is an error. With `--sweep`, the config
file's `get_sweep([arg])` lists override sets (see gan_jax/sweep.py); run i
trains in DIR/<i>_<its overrides>, DIR/sweep.json maps each index to its
overrides and DIR/summary.md compares the runs (--keep_going: past a diverged run).
Errors of input or of the run folder print as one line (see gan_jax/cli.py);
SIGTERM / Ctrl-C save a checkpoint of the current step and exit 143 / 130.
"""

import sys

try:
  from absl import app
  from absl import flags
  from absl import logging
  from ml_collections import config_flags
except ModuleNotFoundError as e:  # run by a Python without the project's packages
  sys.exit(f"gan_jax: {e}. Run it with the project's venv: `make setup`, then "
           f".venv/bin/python {' '.join(sys.argv)}")

from gan_jax import cli
from gan_jax import sweep
from gan_jax import train

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (experiments/*.py[:arg]).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs and samples.")
_SWEEP = flags.DEFINE_bool("sweep", False, "Train every override set of the config file's "
                           "get_sweep(), run i in workdir/<i>.")
_ALLOW_CHANGE = flags.DEFINE_bool(
    "allow_config_change", False, "Resume a workdir even though the config changed in a field "
    "that alters training (the old config is kept in workdir/config_history/).")
_KEEP_GOING = flags.DEFINE_bool("keep_going", False, "With --sweep: a run that diverges is "
                                "recorded in the summary and the sweep goes on.")
flags.mark_flags_as_required(["config", "workdir"])


class _QuietLibraries(logging.logging.Filter):
  """Drops orbax's per-save INFO chatter and JAX's backend probing ('Unable to
  initialize backend tpu'); their warnings and errors still show."""

  def filter(self, record):
    return record.levelno >= logging.logging.WARNING or not (
        "/orbax/" in record.pathname or record.pathname.endswith("xla_bridge.py"))


def config_difference(config) -> str:
  """The config's fields that differ from experiments/base.py, one per line."""
  from experiments import base  # pylint: disable=g-import-not-at-top
  from gan_jax import config_checks  # pylint: disable=g-import-not-at-top
  changes = config_checks.changed_fields(base.get_config().to_dict(), config.to_dict())
  return "\n".join(f"  {k} = {new!r}" for k, (_, new) in changes.items()) or "  (none)"


@cli.user_errors_as_one_line
def main(argv):
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected command-line arguments: {argv[1:]}")
  logging.info("Config: experiments/base.py with\n%s", config_difference(_CONFIG.value))
  train_fn = lambda c, w: train.train_and_evaluate(c, w, allow_config_change=_ALLOW_CHANGE.value)
  if _SWEEP.value:
    overrides = sweep.load_sweep(config_flags.get_config_filename(flags.FLAGS["config"]))
    sweep.run_sweep(_CONFIG.value, _WORKDIR.value, overrides, train_fn,
                    keep_going=_KEEP_GOING.value)
  else:
    train_fn(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
