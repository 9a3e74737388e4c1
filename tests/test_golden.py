"""The golden outputs of tests/golden.py: every case still gives bit-identical
state leaves and metric rows (a refactor of the train step must keep them)."""

import json
import os

import numpy as np
import pytest

from tests import golden

CASES = golden.cases()


def test_every_objective_and_penalty_has_a_golden_case():
  """Every one gan_jax registers (a user's own, registered by a config file, has none)."""
  import gan_jax  # pylint: disable=g-import-not-at-top
  from gan_jax import losses, penalties, registry  # pylint: disable=g-import-not-at-top
  package = os.path.dirname(gan_jax.__file__)
  ours = lambda reg: [n for n in reg.names()
                      if registry.definition_site(reg.get(n))[0].startswith(package)]
  names = set(CASES)
  assert len(ours(losses.OBJECTIVES)) >= 14  # 8 objectives, 6 f-GANs
  assert {f"objective_{n}" for n in ours(losses.OBJECTIVES)} <= names
  assert {f"penalty_{n}" for n in ours(penalties.PENALTIES) if n != "none"} <= names


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_outputs_are_bit_identical(name):
  with open(os.path.join(golden.GOLDEN_DIR, f"{name}.json")) as f:
    expected = json.load(f)
  leaves, rows = golden.run_case(CASES[name])
  assert rows == expected["rows"]
  digests = {k: golden.leaf_digest(v) for k, v in leaves.items()}
  assert sorted(digests) == sorted(expected["digests"])
  changed = sorted(k for k in digests if digests[k] != expected["digests"][k])
  if changed and os.path.exists(os.path.join(golden.GOLDEN_DIR, f"{name}.npz")):
    stored = np.load(os.path.join(golden.GOLDEN_DIR, f"{name}.npz"))
    diffs = {k: float(np.max(np.abs(leaves[k].astype(np.float64) - stored[k]))) for k in changed}
    pytest.fail(f"{len(changed)} leaves changed; max abs differences: {diffs}")
  assert not changed, f"{len(changed)} leaves changed, e.g. {changed[:3]}"
