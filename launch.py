"""Launches one experiment: python launch.py --config=experiments/X.py[:arg] --workdir=DIR

The same program as the `gan-jax-train` entry point; see gan_jax/launch.py.
"""

import sys

try:
  from gan_jax import launch
except ModuleNotFoundError as e:  # run by a Python without the project's packages
  sys.exit(f"gan_jax: {e}. Run it with the project's venv: `make setup`, then "
           f".venv/bin/python {' '.join(sys.argv)}")

if __name__ == "__main__":
  launch.run_program()
