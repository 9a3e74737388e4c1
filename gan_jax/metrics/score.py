"""Classifier ("Inception") score from class probabilities (Salimans et al. 2016).

score = exp(E_x KL(p(y|x) || p(y))), with p(y) the mean of p(y|x) over the
samples of a split. Following the reference code the N samples are cut into
`splits` contiguous parts (sizes differ by at most one when N is not a
multiple), the score is computed on each, and the mean and the (ddof=0)
standard deviation over parts are returned. With C classes the score lies in
[1, C]: C for confident predictions spread evenly over the classes, 1 when
every sample gets the same distribution.

Host-side float64 NumPy: the inputs are small ([N, C]) and already computed.
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.special

ArrayLike = jax.typing.ArrayLike


def _split_scores(probs: np.ndarray, splits: int) -> np.ndarray:
  n = probs.shape[0]
  scores = []
  for i in range(splits):
    part = probs[i * n // splits:(i + 1) * n // splits]
    marginal = np.mean(part, axis=0, keepdims=True)
    # rel_entr(p, q) = p log(p / q), with 0 log 0 = 0.
    kl = np.sum(scipy.special.rel_entr(part, marginal), axis=1)
    scores.append(np.exp(np.mean(kl)))
  return np.asarray(scores)


def _check(name: str, values: np.ndarray, splits: int) -> None:
  if values.ndim != 2:
    raise ValueError(f"{name} must have shape [N, C], got {values.shape}")
  if not 1 <= splits <= values.shape[0]:
    raise ValueError(f"splits must be in [1, N={values.shape[0]}], got {splits}")


def classifier_score(probs: ArrayLike, *, splits: int = 10,
                     atol: float = 1e-3) -> tuple[float, float]:
  """Classifier score from class probabilities.

  Args:
    probs: [N, C] class probabilities p(y|x), rows summing to 1.
    splits: number of contiguous parts the score is averaged over.
    atol: tolerance on the row sums (float32 softmax outputs pass).

  Returns:
    `(mean, std)` of the per-split scores as Python floats (ddof=0).

  Raises:
    ValueError: if `probs` is not [N, C], has negative or non-finite entries,
      rows that do not sum to 1 within `atol`, or `splits` is not in [1, N].
  """
  probs = np.asarray(probs, dtype=np.float64)
  _check("probs", probs, splits)
  if not np.all(np.isfinite(probs)) or np.any(probs < 0):
    raise ValueError("probs must be finite and non-negative")
  row_sums = np.sum(probs, axis=1)
  worst = int(np.argmax(np.abs(row_sums - 1.0)))
  if abs(row_sums[worst] - 1.0) > atol:
    raise ValueError(f"probs rows must sum to 1 (atol={atol}); row {worst} sums "
                     f"to {row_sums[worst]!r}. Pass logits to "
                     "classifier_score_from_logits instead?")
  scores = _split_scores(probs / row_sums[:, None], splits)
  return float(np.mean(scores)), float(np.std(scores))


def classifier_score_from_logits(logits: ArrayLike, *,
                                 splits: int = 10) -> tuple[float, float]:
  """Classifier score from unnormalised logits (softmax taken in float64).

  Args:
    logits: [N, C] classifier logits.
    splits: number of contiguous parts the score is averaged over.

  Returns:
    `(mean, std)` of the per-split scores as Python floats (ddof=0).

  Raises:
    ValueError: if `logits` is not [N, C] or non-finite, or `splits` is not in
      [1, N].
  """
  logits = np.asarray(logits, dtype=np.float64)
  _check("logits", logits, splits)
  if not np.all(np.isfinite(logits)):
    raise ValueError("logits must be finite")
  scores = _split_scores(scipy.special.softmax(logits, axis=1), splits)
  return float(np.mean(scores)), float(np.std(scores))
