"""Layers that look across the examples of a batch (Salimans et al. 2016).

  MinibatchDiscrimination  appends, for each example, how close it is to the
                           other examples of its batch under learned
                           projections, so D can see a collapsed batch.
  VirtualBatchNorm         normalises each example with the statistics of a
                           fixed reference batch plus itself, so G's output for
                           one z does not depend on the rest of its batch.

Both mix examples: gradient penalties (per-example) are refused with them.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class MinibatchDiscrimination(nn.Module):
  """x [B, F] -> concat(x, o) [B, F + num_kernels].

  M = x T reshaped to [B, num_kernels, kernel_dim];
  c_k(i, j) = exp(-||M_i,k - M_j,k||_1);  o_k(i) = sum_{j != i} c_k(i, j).
  (The paper's sum includes j = i, a constant 1; it is left out here.)
  """
  num_kernels: int = 50
  kernel_dim: int = 5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    t = self.param("T", nn.initializers.normal(0.1),
                   (x.shape[-1], self.num_kernels * self.kernel_dim))
    m = (x @ t).reshape((x.shape[0], self.num_kernels, self.kernel_dim))
    l1 = jnp.abs(m[:, None] - m[None, :]).sum(-1)  # [B, B, K]
    o = jnp.exp(-l1).sum(axis=1) - 1.0  # drop the self term exp(0) = 1
    return jnp.concatenate([x, o], axis=-1)


class VirtualBatchNorm(nn.Module):
  """Virtual batch norm over the last axis.

  The input carries the reference batch in its first `reference_size` rows:
  x [R + B, ..., C]. Reference rows are normalised with the reference
  statistics; every other example i with the statistics of the reference
  batch plus itself, weights R/(R+1) and 1/(R+1) (Salimans et al. 2016).
  Statistics are over every axis but the last (features), as in batch norm.
  """
  reference_size: int
  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    r = self.reference_size
    if x.shape[0] <= r:
      raise ValueError(f"VirtualBatchNorm needs the reference batch ({r} rows) plus "
                       f"examples, got {x.shape[0]} rows")
    reduce = tuple(range(x.ndim - 1))
    ref, ex = x[:r], x[r:]
    ref_mean = ref.mean(axis=reduce)
    ref_sq = jnp.square(ref).mean(axis=reduce)
    per_ex = tuple(range(1, x.ndim - 1))  # spatial axes of one example
    ex_mean = ex.mean(axis=per_ex, keepdims=True) if per_ex else ex
    ex_sq = jnp.square(ex).mean(axis=per_ex, keepdims=True) if per_ex else jnp.square(ex)
    w = 1.0 / (r + 1)
    mean = jnp.concatenate([jnp.broadcast_to(ref_mean, (r,) + ex_mean.shape[1:]),
                            (1 - w) * ref_mean + w * ex_mean])
    sq = jnp.concatenate([jnp.broadcast_to(ref_sq, (r,) + ex_sq.shape[1:]),
                          (1 - w) * ref_sq + w * ex_sq])
    var = jnp.maximum(sq - jnp.square(mean), 0.0)
    y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
    scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return y * scale + bias
