"""Data parallelism over devices and hosts, and N seeds in one run.

`StepRunner(config, dataset)` owns how a step runs:
  backend 'shard_map' (default): the step with `axis_name='data'` under
      `jax.shard_map` on a 1-D device mesh; the state is replicated, the batch
      split along its example axis.
  backend 'pmap': the same per-device step under `jax.pmap` (maintenance mode
      in current JAX, kept because the design asks for it); the state carries a
      leading device axis.
  backend 'none': plain `jax.jit` on one device.
With `num_seeds = N > 1` the whole state gets a leading seed axis and the step
is `jax.vmap`ed over it (seed i uses `config.seed + i` for its parameters,
keys and data order), so one launch gives error bars.

Multi-host: `initialize_distributed(config.parallel)` calls
`jax.distributed.initialize` (coordinator address, process count and id from
the config, else from the environment); each host then reads only its slice
of every global batch, and only process 0 writes logs, samples and metrics.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gan_jax import conditioning
from gan_jax import steps
from gan_jax.data import Dataset
from gan_jax.state import GANState, create_state

AXIS = "data"
BACKENDS = ("shard_map", "pmap", "none")


def initialize_distributed(pc: ml_collections.ConfigDict) -> None:
  """Starts multi-host JAX when a coordinator is configured (flags or env).

  Environment fallbacks: GAN_JAX_COORDINATOR, GAN_JAX_NUM_PROCESSES,
  GAN_JAX_PROCESS_ID. CPU hosts use gloo collectives.
  """
  address = pc.coordinator_address or os.environ.get("GAN_JAX_COORDINATOR", "")
  if not address:
    return
  num = pc.num_processes or int(os.environ.get("GAN_JAX_NUM_PROCESSES", "1"))
  pid = pc.process_id if pc.process_id >= 0 else int(os.environ.get("GAN_JAX_PROCESS_ID", "0"))
  if not 0 <= pid < num:
    raise ValueError(f"process_id {pid} outside [0, {num})")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=address, num_processes=num, process_id=pid)
  logging.info("Process %d of %d, coordinator %s, %d global devices", jax.process_index(),
               jax.process_count(), address, jax.device_count())


def stack_states(states: list[GANState]) -> GANState:
  """Stacks the leaves of same-shaped states along a new leading (seed) axis."""
  treedef = jax.tree.structure(states[0])
  leaves = [jnp.stack(xs) for xs in zip(*(jax.tree.leaves(s) for s in states))]
  return jax.tree.unflatten(treedef, leaves)


def select_seed(state: GANState, index: int) -> GANState:
  """One seed's state out of a vmapped (stacked) state."""
  return jax.tree.map(lambda x: x[index], state)


class StepRunner:
  """Builds, places and runs the train step for one config.

  Args:
    config: the experiment config (`parallel`, `num_seeds`, `dataset`, ...).
    dataset: the training data.

  Raises:
    ValueError: unknown backend, or a global batch that does not divide over
      the devices (or hosts).
  """

  def __init__(self, config: ml_collections.ConfigDict, dataset: Dataset):
    pc = config.parallel
    if pc.backend not in BACKENDS:
      raise ValueError(f"Unknown parallel backend {pc.backend!r}; valid choices: "
                       f"{', '.join(BACKENDS)}")
    if config.num_seeds < 1:
      raise ValueError(f"num_seeds must be >= 1, got {config.num_seeds}")
    self.config, self.dataset = config, dataset
    self.backend = pc.backend
    self.num_seeds = config.num_seeds
    self.conditional = conditioning.num_classes(config.conditioning) > 0
    devices = jax.devices()
    if self.backend == "none":
      devices = devices[:1]
    elif pc.num_devices:
      if pc.num_devices > len(devices):
        raise ValueError(f"parallel.num_devices={pc.num_devices}, only {len(devices)} present")
      devices = devices[:pc.num_devices]
    self.devices = devices
    self.num_devices = len(devices)
    batch = config.dataset.batch_size
    if batch % self.num_devices:
      raise ValueError(f"global batch {batch} does not divide over {self.num_devices} devices; "
                       "choose dataset.batch_size as a multiple of the device count")
    if batch % jax.process_count():
      raise ValueError(f"global batch {batch} does not divide over {jax.process_count()} hosts")
    self.axis_name = None if self.backend == "none" else AXIS
    step = steps.make_train_step(config, axis_name=self.axis_name)
    if self.num_seeds > 1:
      step = jax.vmap(step)
    seed_axes = (None,) if self.num_seeds > 1 else ()
    self._batch_spec = P(*seed_axes, None, AXIS)  # [(N,) k, B, ...] split on B
    if self.backend == "shard_map":
      self.mesh = jax.make_mesh((self.num_devices,), (AXIS,), devices=devices,
                                axis_types=(jax.sharding.AxisType.Auto,))
      mapped = jax.shard_map(step, mesh=self.mesh, in_specs=(P(), self._batch_spec),
                             out_specs=(P(), P()), check_vma=False)
      self._step = jax.jit(mapped, donate_argnums=0)
    elif self.backend == "pmap":
      self._step = jax.pmap(step, axis_name=AXIS, devices=devices, donate_argnums=0)
    else:
      self._step = jax.jit(step, donate_argnums=0)

  # --- state -------------------------------------------------------------

  def init_state(self) -> GANState:
    """A fresh (host-layout) state: stacked over seeds when num_seeds > 1."""
    shape = self.dataset.sample_shape
    states = [create_state(self.config, sample_shape=shape, seed=self.config.seed + i,
                           axis_name=self.axis_name) for i in range(self.num_seeds)]
    return states[0] if self.num_seeds == 1 else stack_states(states)

  def place(self, state: GANState) -> GANState:
    """Host layout -> the layout the step expects (replicated over devices)."""
    if self.backend == "shard_map":
      return jax.device_put(state, NamedSharding(self.mesh, P()))
    if self.backend == "pmap":
      # A leading device axis; pmap puts slice i on device i.
      return jax.tree.map(lambda x: np.stack([np.asarray(x)] * self.num_devices), state)
    return state

  def unplace(self, state: GANState) -> GANState:
    """Step layout -> host layout (for checkpoints, samples and evaluation)."""
    if self.backend == "pmap":
      return jax.tree.map(lambda x: x[0], state)
    return state

  # --- data --------------------------------------------------------------

  def host_batch(self, step: int) -> Any:
    """This host's slice of the global batch of generator step `step`:
    [(N,) k, B / num_hosts, ...], for a class-conditional GAN with its labels
    [(N,) k, B / num_hosts] as a pair."""
    seeds = [self.config.seed + i for i in range(self.num_seeds)]
    k = self.config.num_critic_steps
    shard = (jax.process_index(), jax.process_count())
    batches = [self.dataset.batch_at(step, seed=s, num_critic_steps=k, shard=shard,
                                     with_labels=self.conditional) for s in seeds]
    return batches[0] if self.num_seeds == 1 else jax.tree.map(lambda *b: np.stack(b), *batches)

  def place_batch(self, batch: Any) -> Any:
    """A host batch (array or (images, labels)) in the layout the step expects."""
    if self.backend == "shard_map":
      sharding = NamedSharding(self.mesh, self._batch_spec)
      if jax.process_count() > 1:
        return jax.tree.map(lambda b: jax.make_array_from_process_local_data(sharding, b), batch)
      return jax.device_put(batch, sharding)
    if self.backend == "pmap":
      b_axis = 2 if self.num_seeds > 1 else 1
      return jax.tree.map(lambda b: np.stack(np.split(b, self.num_devices, axis=b_axis)), batch)
    return batch

  def __call__(self, state: GANState, step: int) -> tuple[GANState, dict[str, jax.Array]]:
    """Runs generator step `step` on its data; metrics are per seed when N > 1."""
    state, metrics = self._step(state, self.place_batch(self.host_batch(step)))
    if self.backend == "pmap":
      metrics = jax.tree.map(lambda x: x[0], metrics)
    return state, metrics
