"""CycleGAN (Zhu et al. 2017): unpaired translation between two image domains.

  python -m gan_jax.cyclegan.launch --config=experiments/cyclegan_fashion_mnist.py --workdir=DIR

Modules, one responsibility each:
  losses   the four per-example losses (least-squares adversarial, cycle, identity).
  models   the ResNet generator and the PatchGAN discriminator (instance norm).
  data     the two domains (class groups of one labelled image set) as
           deterministic, resumable batch streams, and the fixed grid images.
  state    `CycleGANState`: one pytree holding G, F, D_X, D_Y, their optimizer
           states, the two fake pools, step and rng.
  steps    the pure train step `(state, batch_a, batch_b) -> (state, metrics)`.
  train    `train_and_evaluate(config, workdir)`: loop, checkpoints, metrics,
           translation grids.
  launch   the absl entry point.
Domain A is X, domain B is Y: G maps A -> B, F maps B -> A; D_X judges A
images, D_Y judges B images.
"""
