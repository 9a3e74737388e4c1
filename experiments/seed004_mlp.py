"""Seed 004 ("Generative Adversarial Networks"): MLP GANs on MNIST.

`--config=experiments/seed004_mlp.py:<algo>[,<dataset>][,runlocal]`, dataset
mnist_5k (default, offline), mnist or fashion_mnist. Algorithms:

  vanilla          non-saturating GAN, Adam(2e-4, b1 0.5)
  fgan_<div>       f-GAN for div in gan, js, kl, reverse_kl, pearson,
                   squared_hellinger: Adam(2e-4, b1 0.5, b2 0.999), gradient
                   norm clipped at 1, weight decay 1e-4 on D only
  fgan_js_warmup   the warm-start run: JS f-GAN for 6 epochs with the learning
                   rate alpha/100, alpha/10, alpha (2 epochs each)
  fgan_kl_warm, fgan_reverse_kl_warm
                   KL / reverse KL f-GAN initialised from fgan_js_warmup's
                   checkpoint (`--config.warm_start.workdir=` that run's
                   workdir; default workdirs/seed004/fgan_js_warmup)
  wgan_wc          RMSprop, critic lr 2.5e-4, G lr 5e-5, c 0.01, batch 64, k 5
  wgan_gp          the same with a gradient penalty (lambda 10), no clipping
"""

from __future__ import annotations

from gan_jax.configs import args, base

DIVERGENCES = ("gan", "js", "kl", "reverse_kl", "pearson", "squared_hellinger")
ALGOS = ("vanilla", *(f"fgan_{d}" for d in DIVERGENCES), "fgan_js_warmup",
         "fgan_kl_warm", "fgan_reverse_kl_warm", "wgan_wc", "wgan_gp")
DATASETS = ("mnist_5k", "mnist", "fashion_mnist")
EPOCH_EXAMPLES = {"mnist_5k": 4000, "mnist": 60000, "fashion_mnist": 60000}
WARM_START_WORKDIR = "workdirs/seed004/fgan_js_warmup"


def get_config(arg: str | None = None):
  values, runlocal = args.parse(arg, fields=[("algo", ALGOS, "vanilla"),
                                             ("dataset", DATASETS, "mnist_5k")],
                                where="seed004_mlp.py")
  algo, dataset = values["algo"], values["dataset"]
  config = base.get_config()
  config.dataset.name = dataset
  config.dataset.batch_size = 64
  config.model.name = "mlp"
  config.model.mlp.dropout_rate = 0.0
  steps_per_epoch = EPOCH_EXAMPLES[dataset] // config.dataset.batch_size
  config.train.num_steps = 2000
  for opt in (config.optimizer_g, config.optimizer_d):
    opt.update(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999)
  if algo == "vanilla":
    config.objective = "non_saturating"
  elif algo.startswith("fgan_"):
    div = algo[len("fgan_"):].replace("_warmup", "").replace("_warm", "")
    config.objective = f"fgan_{div}"
    config.optimizer_g.grad_clip_norm = config.optimizer_d.grad_clip_norm = 1.0
    config.optimizer_d.weight_decay = 1e-4
    if algo == "fgan_js_warmup":
      for opt in (config.optimizer_g, config.optimizer_d):
        opt.warmup_steps = 2 * steps_per_epoch
      config.train.num_steps = 6 * steps_per_epoch
    elif algo.endswith("_warm"):
      config.warm_start.workdir = WARM_START_WORKDIR
  else:  # wgan_wc, wgan_gp
    config.objective = "wasserstein"
    config.num_critic_steps = 5
    config.optimizer_d.update(name="rmsprop", learning_rate=2.5e-4)
    config.optimizer_g.update(name="rmsprop", learning_rate=5e-5)
    if algo == "wgan_wc":
      config.weight_clip = 0.01
    else:
      config.penalty.update(name="wgan_gp", weight=10.0)
  config.train.sample_every = 250
  config.eval.every_steps = 250
  if runlocal:
    base.runlocal(config)
    config.model.mlp.g_hidden = config.model.mlp.d_hidden = (32,)
    if algo == "fgan_js_warmup":
      config.optimizer_g.warmup_steps = config.optimizer_d.warmup_steps = 1
  return config
