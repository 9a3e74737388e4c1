"""The golden outputs of tests/golden.py: every case still gives bit-identical
state leaves and metric rows (a refactor of the train step must keep them)."""

import json
import os

import numpy as np
import pytest

from tests import golden

CASES = golden.cases()


def test_every_objective_and_penalty_has_a_golden_case():
  from gan_jax import losses, penalties  # pylint: disable=g-import-not-at-top
  names = set(CASES)
  assert {f"objective_{n}" for n in losses.OBJECTIVES.names()} <= names
  assert {f"penalty_{n}" for n in penalties.PENALTIES.names() if n != "none"} <= names


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
