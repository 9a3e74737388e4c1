"""Reading old records: config.json files and checkpoint metadata written by
earlier layouts, in the current schema.

  with_model_blocks   a flat `model` block (before per-family blocks) moved
                      into the blocks of the families that read its fields
  upgrade_recorded    a recorded GAN config in the current schema: moved fields
                      at their new place, fields added since at their defaults
  pending_rows        the pending metric rows of a checkpoint's metadata, in
                      either layout ({"first_step", "rows"} or a bare list)
Every reader of old records goes through this module.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from gan_jax import config_checks
from gan_jax import models
from gan_jax.configs import base


# The model fields of the flat `model` block (before per-family blocks), each
# now in the block of the family that reads it.
FLAT_MODEL_FIELDS = frozenset({
    "dropout_rate", "g_hidden", "d_hidden", "output_activation", "nf", "nf_max", "res_ratio",
    "d_norm", "d_batch_norm", "minibatch_kernels", "minibatch_kernel_dim", "vbn_reference_size"})


def with_model_blocks(recorded: Mapping[str, Any]) -> dict[str, Any]:
  """A recorded config whose `model` block is flat, with each field the chosen
  model read moved into its family's block and every other block at its base
  default (the model ignored those fields, and ignores those blocks); a
  recorded config with blocks is returned as is."""
  model = recorded.get("model", {})
  if not FLAT_MODEL_FIELDS & set(model):
    return dict(recorded)
  chosen = models.MODELS.get(model["name"]).block
  defaults = base.get_config().model.to_dict()
  moved = {k: v for k, v in model.items() if k not in FLAT_MODEL_FIELDS}
  for block, fields in defaults.items():
    if isinstance(fields, dict):
      moved[block] = {k: model.get(k, v) if block == chosen else v for k, v in fields.items()}
  return {**recorded, "model": moved}


def upgrade_recorded(recorded: Mapping[str, Any]) -> dict[str, Any]:
  """A recorded config (nested dict, e.g. an old config.json) in the current
  schema: a field the schema moved is at its new place, with its recorded value,
  and a field the schema gained since is at its base default (an added field's
  default keeps what the code did before the field existed)."""
  return config_checks.fill_defaults(with_model_blocks(recorded), base.get_config().to_dict())


def pending_rows(record: Any) -> list[dict[str, np.ndarray]]:
  """The metric rows of steps not yet logged that a checkpoint's meta keeps:
  `{"first_step", "rows": [...]}`, or a bare list of rows (the CycleGAN
  loop's layout before the shared run loop)."""
  rows = record if isinstance(record, list) else record["rows"]
  return [{k: np.asarray(v, np.float64) for k, v in m.items()} for m in rows]
