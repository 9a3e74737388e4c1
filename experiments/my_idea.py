"""Adding your own idea from a config file: an objective and a trick, each one
function plus one registry line, trained on the 2-D ring with no edit of gan_jax.

`--config=experiments/my_idea.py:[<variant>][,runlocal]`, variant
  squared_hinge   D: relu(1 - r)^2 + relu(1 + f)^2, G: -f (the objective below)
  drift           the non-saturating GAN plus ProGAN's drift term
                  eps * E[D(x_real)^2] in D's loss (Karras et al. 2018), eps 1e-3
The rest is experiments/toy_ring.py. Importing this file twice (as `--sweep`
does) registers the same definitions again, which the registries allow.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from experiments import toy_ring
from gan_jax import losses, tricks
from gan_jax.configs import args, base


def squared_hinge_d_loss(*, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """relu(1 - r)^2 + relu(1 + f)^2; [B] -> [B]."""
  return jnp.square(jax.nn.relu(1.0 - real_logits)) + jnp.square(jax.nn.relu(1.0 + fake_logits))


losses.OBJECTIVES.register("squared_hinge", losses.Objective(
    "squared_hinge", d_loss=squared_hinge_d_loss, g_loss=lambda *, fake_logits: -fake_logits))


@tricks.register("drift", kind="loss_term", config_field="drift", players=("d",))
def drift_term(ctx: tricks.TermContext) -> jax.Array:
  """eps * mean D(x_real)^2, D called through the context (`steps.discriminate`)."""
  logits = ctx.discriminate(ctx.d_params, ctx.real, ctx.key).logits
  return ctx.tricks["drift"] * jnp.mean(jnp.square(logits))


def get_config(arg: str | None = None):
  values, runlocal = args.parse(arg, fields=[("variant", ("squared_hinge", "drift"),
                                              "squared_hinge")], where="my_idea.py")
  config = toy_ring.get_config()
  with config.unlocked():
    config.tricks.drift = 0.0  # a new field: the trick is on when it is non-zero
  if values["variant"] == "squared_hinge":
    config.objective = "squared_hinge"
  else:
    config.tricks.drift = 1e-3
  if runlocal:
    base.runlocal(config)
  return config
