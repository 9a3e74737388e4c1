"""gan_jax: GAN training algorithms of the classic literature in JAX/Flax."""
