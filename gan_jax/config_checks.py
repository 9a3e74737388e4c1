"""Every numeric, boolean and choice config field's valid range, checked in one place.

`validate_config` runs before a run writes anything; the modules that read a
block on their own (optimizers, datasets) check that block with `check_block`.
Names (objective, model, dataset ...) are checked by their registries.

The second half compares configs: `changed_fields` between a run's recorded
config.json and a new config, and `RESUMABLE_FIELDS`, the fields a resumed run
may change (its length, logging and checks: nothing the updates compute).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import ml_collections

from gan_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Rule:
  """A field's type and closed / open bounds (None: unbounded); for strings,
  the allowed values (None: any string), or with a `separator` the values each
  entry of a `separator`-separated list may take ('' is the empty list)."""
  kind: type
  low: float | None = None
  high: float | None = None
  high_open: bool = False
  low_open: bool = False
  choices: tuple[str, ...] | None = None
  separator: str | None = None

  def describe(self) -> str:
    if self.kind is bool:
      return "True or False"
    if self.kind is str:
      if self.separator is not None:
        sep = "comma" if self.separator == "," else repr(self.separator)
        return (f"a {sep}-separated list of "
                + ", ".join(repr(c) for c in self.choices) + " ('' for none)")
      return ("one of " + ", ".join(repr(c) for c in self.choices) if self.choices
              else "a string")
    what = "an integer" if self.kind is int else "a finite number"
    if self.low is not None and self.high is not None:
      return (f"{what} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
              f"{')' if self.high_open else ']'}")
    if self.low is not None:
      return f"{what} {'>' if self.low_open else '>='} {self.low:g}"
    return what

  def holds(self, value: Any) -> bool:
    if self.kind is bool:
      return isinstance(value, bool)
    if self.kind is str:
      if not isinstance(value, str):
        return False
      if self.separator is not None:
        return value == "" or all(v.strip() in self.choices
                                  for v in value.split(self.separator))
      return self.choices is None or value in self.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      return False
    if self.kind is int and not isinstance(value, int):
      return False
    if not math.isfinite(value):  # also rejects NaN, for which every comparison is False
      return False
    if self.low is not None and not (value > self.low if self.low_open else value >= self.low):
      return False
    return self.high is None or (value < self.high if self.high_open else value <= self.high)


def _int(low: int | None = 0) -> Rule:
  return Rule(int, low)


def _float(low: float | None = 0.0, high: float | None = None, *, high_open: bool = False,
           low_open: bool = False) -> Rule:
  return Rule(float, low, high, high_open=high_open, low_open=low_open)


_BOOL = Rule(bool)
_STR = Rule(str)
_FRACTION = _float(0.0, 1.0, high_open=True)  # [0, 1)
# The names of gan_jax.augment.POLICIES (kept here, where no module imports jax).
DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")

OPTIMIZER_RULES = {
    "learning_rate": _float(0.0, low_open=True),
    "b1": _FRACTION, "b2": _FRACTION, "decay": _FRACTION, "momentum": _FRACTION,
    "eps": _float(), "grad_clip_norm": _float(), "weight_decay": _float(),
    "warmup_steps": _int(),
}

RULES: dict[str, Rule] = {
    "seed": _int(), "num_seeds": _int(1),
    "parallel.num_devices": _int(), "parallel.num_processes": _int(),
    "parallel.process_id": _int(-1),
    "dataset.batch_size": _int(1), "dataset.num_train_examples": _int(),
    "model.latent_dim": _int(1), "model.d_spectral_norm": _BOOL,
    "model.dcgan28.dropout_rate": _FRACTION,
    "model.dcgan.nf": _int(1),
    "model.resnet.nf": _int(1), "model.resnet.nf_max": _int(1),
    "model.resnet.res_ratio": _float(0.0, low_open=True),
    "model.mlp.g_hidden": _int(1), "model.mlp.d_hidden": _int(1),  # every width of the tuple
    "model.mlp.dropout_rate": _FRACTION, "model.mlp.d_batch_norm": _BOOL,
    "model.mlp.minibatch_kernels": _int(), "model.mlp.minibatch_kernel_dim": _int(1),
    "model.mlp.vbn_reference_size": _int(),
    "num_critic_steps": _int(1), "share_latents": _BOOL,
    **{f"optimizer_{p}.{k}": rule for p in "gd" for k, rule in OPTIMIZER_RULES.items()},
    "penalty.weight": _float(), "weight_clip": _float(),
    "tricks.label_smoothing": _FRACTION, "tricks.instance_noise_std": _float(),
    "tricks.instance_noise_anneal_steps": _int(), "tricks.feature_matching": _BOOL,
    "tricks.historical_averaging": _float(), "tricks.unrolled_steps": _int(),
    "tricks.consensus": _float(), "tricks.ema_decay": _FRACTION, "tricks.ema_start": _int(),
    "tricks.fake_pool_size": _int(), "tricks.fake_pool_share": _float(0.0, 1.0),
    "tricks.diffaugment": Rule(str, choices=DIFFAUGMENT_POLICIES, separator=","),
    "tricks.ema_candidates": Rule(str),  # its entries: tricks.parse_ema_candidates
    "tricks.diffaugment_strength": _float(),
    "conditioning.num_classes": _int(2), "conditioning.class_loss_weight": _float(),
    "warm_start.step": _int(),
    "eval.every_steps": _int(), "eval.num_samples": _int(10), "eval.batch_size": _int(1),
    "eval.modes_min_count": _int(1), "eval.modes_loose_num_std": _float(3.0),
    "eval.extractor": Rule(str, choices=("auto", "classifier", "inception")),
    "eval.inception_weights": _STR,
    "train.num_steps": _int(1), "train.log_every": _int(1), "train.sample_every": _int(1),
    "train.checkpoint_every": _int(1), "train.max_checkpoints": _int(1),
    "train.num_grid_samples": _int(1), "train.progress_bar": _BOOL,
    "train.max_param_magnitude": _float(),
    "log.wandb": _BOOL, "log.wandb_project": Rule(str), "log.wandb_entity": Rule(str),
    "log.wandb_name": Rule(str),
    "log.wandb_mode": Rule(str, choices=("", "online", "offline", "disabled")),
}

# The `log` block: where metrics go, never what is trained.
LOG_FIELDS = frozenset({"log.wandb", "log.wandb_project", "log.wandb_entity", "log.wandb_name",
                        "log.wandb_mode"})

# Fields a resumed run may change: how long it runs, what it logs and checks.
RESUMABLE_FIELDS = LOG_FIELDS | frozenset({
    "train.num_steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
    "train.max_checkpoints", "train.progress_bar", "train.max_param_magnitude",
    "eval.every_steps",
    "eval.inception_weights",  # where the file is: its digest is checked, so not what it is
})


def _leaves(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in config.items():
    path = f"{prefix}{key}"
    if isinstance(value, Mapping):
      out.update(_leaves(value, path + "."))
    else:
      out[path] = value
  return out


def flatten(config: ml_collections.ConfigDict | Mapping[str, Any]) -> dict[str, Any]:
  """{'a.b': value} for every leaf of a ConfigDict or of a nested dict."""
  if isinstance(config, ml_collections.ConfigDict):
    config = config.to_dict()
  return _leaves(config)


def _check(path: str, value: Any, rule: Rule) -> None:
  values = (value if isinstance(value, (tuple, list)) and rule.kind not in (bool, str)
            else (value,))
  if not values or not all(rule.holds(v) for v in values):
    each = "a non-empty list, each entry " if isinstance(value, (tuple, list)) else ""
    raise ConfigError(f"config.{path} must be {each}{rule.describe()}, got {value!r}")


def block_rules(prefix: str) -> dict[str, Rule]:
  """The rules of the fields in block `prefix` (e.g. 'dataset'), by field name."""
  return {k[len(prefix) + 1:]: r for k, r in RULES.items() if k.startswith(prefix + ".")}


def check_value(path: str, value: Any) -> None:
  """Checks one field, e.g. check_value('weight_clip', 0.01).

  Raises:
    ConfigError: the value is outside the field's range.
  """
  _check(path, value, RULES[path])


def check_block(block: ml_collections.ConfigDict, rules: Mapping[str, Rule], *,
                where: str) -> None:
  """Checks the fields of one config block (e.g. an optimizer) against `rules`.

  Raises:
    ConfigError: naming `where.field`, its valid range and the value.
  """
  for key, rule in rules.items():
    if key in block:
      _check(f"{where}.{key}", block[key], rule)


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Checks every field of `config` that has a rule (fields absent from a
  partial config are skipped). Constraints between fields stay with the code
  that has them (e.g. steps.py: share_latents needs num_critic_steps = 1).

  Raises:
    ConfigError: the first invalid field, with its valid range.
  """
  leaves = flatten(config)
  for path, rule in RULES.items():
    if path in leaves:
      _check(path, leaves[path], rule)


def fill_defaults(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
  """`values` (a nested dict) with every field of `defaults` it lacks, at its default."""
  out = dict(values)
  for key, default in defaults.items():
    if key not in out:
      out[key] = default
    elif isinstance(default, Mapping) and isinstance(out[key], Mapping):
      out[key] = fill_defaults(out[key], default)
  return out


def difference(defaults: Mapping[str, Any], config: Mapping[str, Any]) -> str:
  """The fields of `config` that differ from `defaults` (nested dicts), one
  `  path = value` per line, or '  (none)'."""
  changes = changed_fields(defaults, config)
  return "\n".join(f"  {k} = {new!r}" for k, (_, new) in changes.items()) or "  (none)"


def _same_computation(path: str, value: Any) -> Any:
  """`value` of field `path` as what it computes: tuples as lists (JSON turns
  tuples into lists), and model.conv_impl 'auto' as the path it picks on this
  backend (a run recorded with 'fft' on CPU is the same run as one with 'auto')."""
  if isinstance(value, tuple):
    return list(value)
  if path == "model.conv_impl" and isinstance(value, str):
    from gan_jax import conv  # pylint: disable=g-import-not-at-top
    try:
      return conv.resolve_conv_impl(value)
    except ValueError:
      return value
  return value


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple]:
  """{'a.b': (old value, new value)} for every leaf that differs between two
  configs as nested dicts (a field only one of them has counts, with None on
  the other side). Values compare as what they compute (`_same_computation`):
  tuples equal lists of the same items, and conv_impl 'auto' equals the path it
  picks on this backend."""
  a, b = _leaves(old), _leaves(new)
  return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
          if _same_computation(k, a.get(k)) != _same_computation(k, b.get(k))}
