"""Short runs of every seed config: final D loss, G loss and steps/s, as markdown.

  python -m tools.seed_configs_table --workdir=workdirs/seed_table [--num_steps=30]

Runs `seed000_table1.py:{dcgan,wgan,wgan_gp},fashion_mnist` and
`seed004_mlp.py:<algo>,mnist_5k` for each algorithm (the warm-started f-GANs
start from this table's own fgan_js_warmup run) for `num_steps` generator
steps without evaluation. steps/s is measured over the last half of the run,
after compilation.
"""

import os
import sys

from absl import app, flags  # pylint: disable=g-multiple-import

from experiments import seed000_table1, seed004_mlp
from gan_jax import train, writers

_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder.")
_STEPS = flags.DEFINE_integer("num_steps", 30, "Generator steps per run.")


def runs():
  for algo in seed000_table1.ALGOS:
    yield f"seed000 {algo}", seed000_table1.get_config(f"{algo},fashion_mnist")
  order = ["fgan_js_warmup", *(a for a in seed004_mlp.ALGOS if a != "fgan_js_warmup")]
  for algo in order:
    yield f"seed004 {algo}", seed004_mlp.get_config(f"{algo},mnist_5k")


def main(argv):
  del argv
  lines = ["| config | objective | k | final D loss | final G loss | steps/s |",
           "|---|---|---|---|---|---|"]
  for name, config in runs():
    workdir = os.path.join(_WORKDIR.value, name.replace(" ", "_"))
    if config.warm_start.workdir:
      config.warm_start.workdir = os.path.join(_WORKDIR.value, "seed004_fgan_js_warmup")
    config.train.update(num_steps=_STEPS.value, log_every=max(_STEPS.value // 2, 1),
                        sample_every=_STEPS.value, checkpoint_every=_STEPS.value,
                        progress_bar=False)
    config.eval.every_steps = 0
    train.train_and_evaluate(config, workdir)
    last = writers.read_metrics(workdir)[-1]
    lines.append(f"| {name} | {config.objective} | {config.num_critic_steps} | "
                 f"{last['d/loss']:.4f} | {last['g/loss']:.4f} | "
                 f"{last['perf/steps_per_sec']:.2f} |")
  table = "\n".join(lines)
  with open(os.path.join(_WORKDIR.value, "table.md"), "w") as f:
    f.write(table + "\n")
  print(table)


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  app.run(main)
