"""Spectral normalization of a whole discriminator (Miyato et al. 2018).

`SpectralNormalized(inner)` runs `inner` with every weight of two or more
dimensions divided by its largest singular value, estimated by one power
iteration per call from a vector u kept per weight (flax's `nn.SpectralNorm`;
a convolution kernel [kh, kw, in, out] is the matrix [kh * kw * in, out], whose
singular values are those of Miyato's [out, in * kh * kw]). Biases and norm
scales (1-D) are left alone. u and the last sigma live in the `batch_stats`
collection under `SPECTRAL_NORM`, so the step keeps them in the state with D's
other statistics; they advance only where that collection is mutable (D's own
update in train mode), and every other call (a gradient penalty's D, eval)
uses them as they are.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax

SPECTRAL_NORM = "spectral_norm"  # the name of its variables in `batch_stats`


class SpectralNormalized(nn.Module):
  """`inner` (a discriminator: x [B, ...] -> logits [B], or a conditional one:
  (x, labels) -> (logits, class logits)) with spectrally normalized weights;
  the calling convention is `inner`'s."""
  inner: nn.Module

  @nn.compact
  def __call__(self, *inputs: jax.Array, train: bool, **kwargs):
    update = train and self.is_mutable_collection("batch_stats")
    return nn.SpectralNorm(self.inner, collection_name="batch_stats", name=SPECTRAL_NORM)(
        *inputs, train=train, update_stats=update, **kwargs)


def without_spectral_norm(batch_stats: Mapping[str, Any]) -> dict:
  """D's `batch_stats` without the spectral-norm vectors (what batch norm keeps)."""
  return {k: v for k, v in batch_stats.items() if k != SPECTRAL_NORM}
