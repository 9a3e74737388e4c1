"""Subprocess worker for tests/test_parallel.py (device count and jax.distributed
must be set before JAX starts, so these runs cannot share the test process).

  python tests/parallel_worker.py BACKEND NUM_DEVICES OUT.npz [COORD NPROC PID]
runs 2 generator steps of a small ring GAN and saves the parameters.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def small_config(backend: str, num_devices: int, *, d_batch_norm: bool):
  from experiments import toy_ring  # pylint: disable=g-import-not-at-top
  config = toy_ring.get_config()
  config.dataset.batch_size = 16
  config.model.mlp.g_hidden = config.model.mlp.d_hidden = (16, 16)
  config.model.mlp.d_batch_norm = d_batch_norm
  if not d_batch_norm:  # a deterministic penalty: R1 on real data
    config.penalty.update(name="r1", weight=1.0)
  else:
    # Parameters in front of batch norm get gradients that are zero up to
    # rounding; Adam would blow that rounding up to full-size steps, so SGD.
    for opt in (config.optimizer_g, config.optimizer_d):
      opt.update(name="sgd", learning_rate=0.05)
  config.parallel.backend = backend
  config.parallel.num_devices = num_devices
  return config


def conditional_config(backend: str, num_devices: int):
  """AC-GAN with a small MLP pair on 64 labelled digits (mnist_5k), no dropout."""
  from experiments import conditional  # pylint: disable=g-import-not-at-top
  from gan_jax import models  # pylint: disable=g-import-not-at-top
  config = conditional.get_config("acgan,mnist_5k")
  config.model = models.model_config("mlp", latent_dim=8, g_hidden=(16,), d_hidden=(16,),
                                     dropout_rate=0.0)
  config.dataset.update(batch_size=16, num_train_examples=64)
  config.parallel.backend = backend
  config.parallel.num_devices = num_devices
  return config


def main():
  backend, num_devices, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from gan_jax import data, parallel  # pylint: disable=g-import-not-at-top
  if len(sys.argv) > 4:
    config = small_config(backend, num_devices, d_batch_norm=False)
    config.parallel.update(coordinator_address=sys.argv[4], num_processes=int(sys.argv[5]),
                           process_id=int(sys.argv[6]))
    parallel.initialize_distributed(config.parallel)
    variants = {"r1": config}
  else:
    variants = {name: small_config(backend, num_devices, d_batch_norm=bn)
                for name, bn in (("r1", False), ("bn", True))}
    # RaGAN: the batch means inside its losses must be over the global batch.
    # SGD: Adam turns a gradient that is 0 up to rounding into a full-size step.
    variants["ragan"] = small_config(backend, num_devices, d_batch_norm=False)
    variants["ragan"].objective = "ragan"
    for opt in (variants["ragan"].optimizer_g, variants["ragan"].optimizer_d):
      opt.update(name="sgd", learning_rate=0.05)
    # The fake pool mixes the global batch: step 0 fills it, step 1 draws half.
    variants["fake_pool"] = small_config(backend, num_devices, d_batch_norm=False)
    variants["fake_pool"].tricks.fake_pool_size = 16
    # A class-conditional GAN: its batches are (images, labels) pairs.
    variants["acgan"] = conditional_config(backend, num_devices)
  arrays = {}
  for name, config in variants.items():
    runner = parallel.StepRunner(config, data.get_dataset(config.dataset))
    state = runner.place(runner.init_state())
    for step in range(2):
      state, _ = runner(state, step)
    state = runner.unplace(state)
    for i, leaf in enumerate(jax.tree.leaves((state.g_params, state.d_params,
                                              state.g_batch_stats, state.d_batch_stats,
                                              state.trick_state))):
      arrays[f"{name}_{i}"] = np.asarray(jax.device_get(leaf))
  if jax.process_index() == 0:
    np.savez(out, **arrays)


if __name__ == "__main__":
  main()
