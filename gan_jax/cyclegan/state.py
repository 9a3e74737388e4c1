"""CycleGANState: the whole training state of CycleGAN as one pytree.

G (A -> B) and F (B -> A) share one Adam optimizer over {"g": G, "f": F}, and
D_X and D_Y one over {"d_x": D_X, "d_y": D_Y}, as in the reference code
(Adam is per-parameter, so this equals one optimizer per network). The pools
are `gan_jax.tricks.fake_pool_init` pools: `pools["d_x"]` holds earlier F(y)
(fake A images, for D_X), `pools["d_y"]` earlier G(x) (fake B images, for D_Y).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
from flax import struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import optimizers
from gan_jax.conv import conv_modules
from gan_jax import tricks
from gan_jax.cyclegan import models

PyTree = Any
# fold_in purposes of the root key PRNGKey(config.seed).
INIT_KEYS = {"g": 0, "f": 1, "d_x": 2, "d_y": 3}
STEP_RNG_PURPOSE = 4


class CycleGANState(struct.PyTreeNode):
  """Everything a CycleGAN run trains and carries from step to step.

  Attributes:
    step: completed train steps, int32 [].
    rng: the run's key; step s uses fold_in(rng, s).
    g_params, f_params: the generators G: A -> B and F: B -> A.
    d_x_params, d_y_params: the discriminators of domain A (X) and B (Y).
    gen_opt_state: Adam's state for {"g": g_params, "f": f_params}.
    disc_opt_state: Adam's state for {"d_x": d_x_params, "d_y": d_y_params}.
    pools: {"d_x": pool of fake A images, "d_y": pool of fake B images}, each
      {"images": [size, H, W, C], "count": []}.
    generator, discriminator: the flax modules (G and F share the
      architecture, as do D_X and D_Y); static.
    gen_tx, disc_tx: the two optax optimizers; static.
  """
  step: jax.Array
  rng: jax.Array
  g_params: PyTree
  f_params: PyTree
  d_x_params: PyTree
  d_y_params: PyTree
  gen_opt_state: PyTree
  disc_opt_state: PyTree
  pools: dict[str, dict[str, jax.Array]]
  generator: nn.Module = struct.field(pytree_node=False)
  discriminator: nn.Module = struct.field(pytree_node=False)
  gen_tx: optax.GradientTransformation = struct.field(pytree_node=False)
  disc_tx: optax.GradientTransformation = struct.field(pytree_node=False)

  @property
  def gen_params(self) -> dict[str, PyTree]:
    return {"g": self.g_params, "f": self.f_params}

  @property
  def disc_params(self) -> dict[str, PyTree]:
    return {"d_x": self.d_x_params, "d_y": self.d_y_params}


def pool_options(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The `config.pool` block as the options `gan_jax.tricks`' fake pool reads."""
  return {"fake_pool_size": config.pool.size, "fake_pool_share": config.pool.share}


def make_networks(config: ml_collections.ConfigDict) -> tuple[nn.Module, nn.Module]:
  """(generator, discriminator) modules of the `config.model` block."""
  m = config.model
  conv, conv_transpose = conv_modules(m.conv_impl)
  generator = models.ResnetGenerator(features=m.gen_features,
                                     num_downsamplings=m.num_downsamplings,
                                     num_res_blocks=m.num_res_blocks, conv=conv,
                                     conv_transpose=conv_transpose)
  discriminator = models.PatchDiscriminator(features=m.disc_features,
                                            num_downsamplings=m.num_downsamplings, conv=conv)
  return generator, discriminator


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The optimizer of the `config.optimizer` block (`gan_jax.optimizers`; Adam
  at a constant learning rate by default)."""
  return optimizers.make_optimizer(config.optimizer)


def create_state(config: ml_collections.ConfigDict, *,
                 sample_shape: tuple[int, ...]) -> CycleGANState:
  """A fresh state at step 0: networks initialised from fold_in(PRNGKey(seed), i).

  Args:
    config: the CycleGAN config.
    sample_shape: one image's shape [H, W, C] (the same in both domains).

  Raises:
    ValueError: the pool is smaller than the share of a batch it swaps, or a
      negative pool size / a share outside [0, 1].
  """
  size, share = config.pool.size, config.pool.share
  if size < 0 or not 0.0 <= share <= 1.0:
    raise ValueError(f"pool.size must be >= 0 and pool.share in [0, 1]; got {size}, {share}")
  drawn = tricks.pool_draws(config.data.batch_size, tricks=pool_options(config))
  if size and drawn > size:
    raise ValueError(f"pool.size {size} is below the {drawn} fakes a batch of "
                     f"{config.data.batch_size} draws from it (pool.share {share}); raise "
                     "pool.size or lower pool.share")
  generator, discriminator = make_networks(config)
  tx = make_optimizer(config)
  root = jax.random.PRNGKey(config.seed)
  dummy = jnp.zeros((1, *sample_shape), jnp.float32)
  params = {}
  for name, key in INIT_KEYS.items():
    net = generator if name in ("g", "f") else discriminator
    params[name] = net.init(jax.random.fold_in(root, key), dummy)["params"]
  gen = {"g": params["g"], "f": params["f"]}
  disc = {"d_x": params["d_x"], "d_y": params["d_y"]}
  pool = lambda: tricks.fake_pool_init(tuple(sample_shape), tricks=pool_options(config))
  return CycleGANState(
      step=jnp.zeros((), jnp.int32), rng=jax.random.fold_in(root, STEP_RNG_PURPOSE),
      g_params=params["g"], f_params=params["f"], d_x_params=params["d_x"],
      d_y_params=params["d_y"], gen_opt_state=tx.init(gen), disc_opt_state=tx.init(disc),
      pools={"d_x": pool(), "d_y": pool()}, generator=generator, discriminator=discriminator,
      gen_tx=tx, disc_tx=tx)
