"""Convolutions for the models: XLA's own, and the CPU fast paths.

`conv_modules(impl)` gives the (Conv, ConvTranspose) constructors the models
take; `impl` is `config.model.conv_impl`: 'auto' (the CPU fast path on CPU,
XLA's convolutions on GPU and TPU), 'xla', 'im2col', 'xla_vjp' or 'fft' (see
`layers`). The CPU paths: `layers` (im2col / col2im and the strided input
gradients), `conv_vjp` (hand-written VJPs), `fft_conv` (stride-1 correlation
by DFT matmuls). Every implementation has flax's parameter tree.
"""

from gan_jax.conv.layers import AUTO, CONV_IMPLS, conv_modules, resolve_conv_impl

__all__ = ["AUTO", "CONV_IMPLS", "conv_modules", "resolve_conv_impl"]
