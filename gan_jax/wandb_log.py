"""An optional Weights & Biases sink beside TensorBoard (`config.log.wandb`).

`WandbSink(workdir, options)` starts (or, on resume, continues) one W&B run
per workdir: its id is kept in `<workdir>/wandb_run_id`, so a resumed run logs
into the same W&B run. It receives what `writers.MetricWriter` writes: the
scalars of each row at their step, the sample grids as images, and the config
(as the run's config). Its files go under `<workdir>/wandb/`; with
`WANDB_MODE=offline` (or `log.wandb_mode='offline'`) nothing leaves the
machine and `wandb sync <workdir>/wandb/offline-run-*` uploads it later.
Like TensorBoard it is best-effort: a failure while logging is one warning,
then the sink stops. The `wandb` package is an extra
(`pip install 'gan_jax[wandb]'`); nothing imports it while `log.wandb` is off.
"""

from __future__ import annotations

import os
import secrets
from typing import Any, Mapping

from absl import logging
import numpy as np

from gan_jax.errors import ConfigError

RUN_ID_FILE = "wandb_run_id"


def check_available(log: Mapping[str, Any]) -> None:
  """Raises ConfigError when `log.wandb` is on but the package is missing."""
  if not log.get("wandb"):
    return
  try:
    import wandb  # pylint: disable=g-import-not-at-top,unused-import  # noqa: F401
  except ImportError:
    raise ConfigError("config.log.wandb is on but the wandb package is not installed: "
                      "pip install 'gan_jax[wandb]' (or set log.wandb=False)") from None


class WandbSink:
  """One W&B run for `workdir` (see the module docstring).

  Args:
    workdir: the run folder.
    log: the `config.log` block (wandb_project, wandb_entity, wandb_name,
      wandb_mode; '' = W&B's default or environment).
  """

  def __init__(self, workdir: str, log: Mapping[str, Any]):
    import wandb  # pylint: disable=g-import-not-at-top
    self._wandb = wandb
    self._failed = False
    id_path = os.path.join(workdir, RUN_ID_FILE)
    if os.path.exists(id_path):
      with open(id_path) as f:
        run_id = f.read().strip()
    else:
      run_id = secrets.token_hex(4)  # W&B run ids: letters and digits
      with open(id_path, "w") as f:
        f.write(run_id)
    self.run = wandb.init(
        project=log.get("wandb_project") or None, entity=log.get("wandb_entity") or None,
        name=log.get("wandb_name") or os.path.basename(os.path.abspath(workdir)),
        mode=log.get("wandb_mode") or None, dir=workdir, id=run_id, resume="allow",
        reinit="create_new")

  def _call(self, fn, *args, **kwargs) -> None:
    if self._failed:
      return
    try:
      fn(*args, **kwargs)
    except Exception as e:  # pylint: disable=broad-except  # a logger never stops training
      logging.warning("Weights & Biases logging stopped (%s: %s); metrics.jsonl, metrics.csv "
                      "and TensorBoard still are written.", type(e).__name__, e)
      self._failed = True

  def scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    self._call(self.run.log, {k: float(v) for k, v in scalars.items()}, step=int(step))

  def image(self, step: int, tag: str, image: np.ndarray) -> None:
    self._call(self.run.log, {tag: self._wandb.Image(np.asarray(image))}, step=int(step))

  def config(self, hparams: Mapping[str, Any]) -> None:
    values = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
              for k, v in hparams.items()}
    self._call(self.run.config.update, values, allow_val_change=True)

  def close(self) -> None:
    self._call(self.run.finish)
