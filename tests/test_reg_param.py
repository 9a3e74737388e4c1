"""GAN_stability's R1 `reg_param` against gan_jax's `penalty.weight` (gamma).

GAN_stability (Mescheder et al. 2018's code), repository LMescheder/GAN_stability,
file gan_training/train.py at commit 9614898135739fbecca9436f1b8ed3cd3c85b1c7;
the lines transcribed below:

  123  def compute_grad2(d_out, x_in):
  124      batch_size = x_in.size(0)
  125      grad_dout = autograd.grad(
  126          outputs=d_out.sum(), inputs=x_in,
  127          create_graph=True, retain_graph=True, only_inputs=True
  128      )[0]
  129      grad_dout2 = grad_dout.pow(2)
  130      assert(grad_dout2.size() == x_in.size())
  131      reg = grad_dout2.view(batch_size, -1).sum(1)
  132      return reg

and in `Trainer.discriminator_trainstep`:

   46          x_real.requires_grad_()
   48          d_real = self.discriminator(x_real, y)
   49          dloss_real = self.compute_loss(d_real, 1)
   51          if self.reg_type == 'real' or self.reg_type == 'real_fake':
   52              dloss_real.backward(retain_graph=True)
   53              reg = self.reg_param * compute_grad2(d_real, x_real).mean()
   54              reg.backward()
   ...
   63          d_fake = self.discriminator(x_fake, y)
   64          dloss_fake = self.compute_loss(d_fake, 0)
   ...
   71              dloss_fake.backward()

with `compute_loss` for gan_type 'standard' (lines 95-96):

   95          if self.gan_type == 'standard':
   96              loss = F.binary_cross_entropy_with_logits(d_out, targets)

So the gradient D's optimizer steps on is that of
dloss_real + reg_param * mean_i ||grad_x D(x_i)||^2 + dloss_fake, with no 1/2.
Every config of that repository that trains (configs/default.yaml,
celebAHQ.yaml, imagenet.yaml, lsun_bedroom.yaml, lsun_church.yaml, ...) sets
`reg_type: real` and `reg_param: 10.`.

gan_jax's side is the train step's own critic update, `steps.d_update`, on a
config with `penalty.name = "r1"` and `penalty.weight = gamma`: the step adds
`penalties.penalty_coefficient("r1", gamma)` (gamma / 2) times the mean R1
penalty. The update uses SGD with learning rate 1024 (a power of two) and no
momentum, so (old - new) / 1024 is the gradient of the step's D loss.

Both sides see the same D (a batch-norm-free MLP), the same parameters and the
same real and fake batches. The tests assert reg_param r is gamma 2 r, and that
gamma r gives half of GAN_stability's term, so they fail under the other
convention.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from experiments import resnet_celeba, toy_ring
from gan_jax import penalties, steps
from gan_jax.state import create_state

REG_PARAM = 10.0  # GAN_stability's reg_param in every one of its training configs
LEARNING_RATE = 1024.0
SAMPLE_SHAPE = (2, 2, 3)  # several non-batch axes: compute_grad2 sums over all of them
BATCH = 8


def compute_grad2(d_fn, x_in):
  """GAN_stability's compute_grad2 (train.py lines 123-132), [B].

  JAX differentiates functions, not recorded graphs: PyTorch's `d_out`, the
  output of D on `x_in`, is `d_fn(x_in)` here, and `autograd.grad` with
  `create_graph=True` is `jax.grad`, itself differentiable.

  Args:
    d_fn: D, [B, ...] -> logits [B].
    x_in: the points, [B, ...].

  Returns:
    ||grad_x D(x_i)||^2 summed over all non-batch axes, [B].
  """
  batch_size = x_in.shape[0]
  grad_dout = jax.grad(lambda x: d_fn(x).sum())(x_in)
  grad_dout2 = grad_dout ** 2
  assert grad_dout2.shape == x_in.shape
  reg = grad_dout2.reshape(batch_size, -1).sum(1)
  return reg


def compute_loss(d_out, target):
  """GAN_stability's `Trainer.compute_loss` for gan_type 'standard' (lines 92-96).

  `F.binary_cross_entropy_with_logits` with its default mean reduction, in
  PyTorch's stable form max(x, 0) - x t + log(1 + exp(-|x|)).
  """
  targets = jnp.full_like(d_out, target)
  return jnp.mean(jnp.maximum(d_out, 0.0) - d_out * targets
                  + jnp.log1p(jnp.exp(-jnp.abs(d_out))))


def gan_stability_d_loss(d_params, discriminator, x_real, x_fake, reg_param):
  """The loss whose gradient `discriminator_trainstep` accumulates (reg_type 'real').

  Returns:
    (dloss_real + reg + dloss_fake, (dloss_real + dloss_fake, reg)).
  """
  d_fn = lambda x: discriminator.apply({"params": d_params}, x, train=True)
  d_real = d_fn(x_real)
  dloss_real = compute_loss(d_real, 1)
  reg = reg_param * compute_grad2(d_fn, x_real).mean()
  d_fake = d_fn(x_fake)
  dloss_fake = compute_loss(d_fake, 0)
  return dloss_real + reg + dloss_fake, (dloss_real + dloss_fake, reg)


def _config(gamma):
  """A tiny MLP GAN; R1 with weight gamma, or no penalty for gamma 0."""
  config = toy_ring.get_config()
  config.model.latent_dim = 4
  config.model.mlp.g_hidden = (8,)
  config.model.mlp.d_hidden = (16, 16)
  config.optimizer_d.update(name="sgd", learning_rate=LEARNING_RATE, momentum=0.0)
  config.penalty.update(name="r1" if gamma else "none", weight=gamma)
  return config


def _batches():
  k_real, k_fake = jax.random.split(jax.random.PRNGKey(3))
  real = jax.random.normal(k_real, (BATCH, *SAMPLE_SHAPE))
  fake = 0.5 * jax.random.normal(k_fake, (BATCH, *SAMPLE_SHAPE)) + 1.0
  return real, fake


@functools.lru_cache(maxsize=None)
def _gan_jax_update(gamma):
  """One `steps.d_update` with R1 at weight gamma (0: no penalty).

  Returns:
    (initial state, spec, metrics, gradient of the step's D loss w.r.t. D's params).
  """
  config = _config(gamma)
  state = create_state(config, sample_shape=SAMPLE_SHAPE)
  spec = steps.StepSpec.from_config(config)
  real, fake = _batches()
  key = steps.update_key(state, "critic/0", num_critic_steps=1)
  new, metrics = jax.jit(lambda s: steps.d_update(spec, s, real, key, fake=fake))(state)
  grads = jax.tree.map(lambda old, updated: (old - updated) / LEARNING_RATE,
                       state.d_params, new.d_params)
  return state, spec, jax.device_get(metrics), grads


def _gan_stability(reg_param):
  """GAN_stability's D loss gradient and its parts, at gan_jax's initial D."""
  state, _, _, _ = _gan_jax_update(0.0)
  real, fake = _batches()
  grads, (objective, reg) = jax.grad(gan_stability_d_loss, has_aux=True)(
      state.d_params, state.discriminator, real, fake, reg_param)
  reg_grads = jax.grad(lambda p: gan_stability_d_loss(
      p, state.discriminator, real, fake, reg_param)[1][1])(state.d_params)
  return grads, float(objective), float(reg), reg_grads


def _penalty_grads(gamma):
  """The gradient of the step's added penalty term: D loss with R1 minus without."""
  return jax.tree.map(jnp.subtract, _gan_jax_update(gamma)[3], _gan_jax_update(0.0)[3])


def _assert_trees_close(actual, expected, rtol=1e-5):
  scale = max(float(jnp.abs(x).max()) for x in jax.tree.leaves(expected))
  jax.tree.map(lambda a, e: np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale),
               actual, expected)


def _trees_close(actual, expected, rtol=1e-5):
  try:
    _assert_trees_close(actual, expected, rtol)
  except AssertionError:
    return False
  return True


def test_both_sides_see_the_same_d_and_objective():
  """Same initial D for every gamma, and the standard loss is gan_jax's non_saturating."""
  state, _, metrics, _ = _gan_jax_update(2 * REG_PARAM)
  jax.tree.map(np.testing.assert_array_equal, state.d_params, _gan_jax_update(0.0)[0].d_params)
  _, objective, reg, _ = _gan_stability(REG_PARAM)
  np.testing.assert_allclose(metrics["d/loss"], objective, rtol=1e-6)
  assert reg > 0.1 * objective  # the penalty is not negligible: a factor 2 shows


def test_reg_param_r_is_gamma_2r():
  grads, _, reg, reg_grads = _gan_stability(REG_PARAM)
  _, spec, metrics, ours = _gan_jax_update(2 * REG_PARAM)
  assert spec.penalty_coefficient == REG_PARAM
  # The added term: its value, its parameter gradient, and the whole D loss gradient.
  np.testing.assert_allclose(spec.penalty_coefficient * metrics["d/penalty"], reg, rtol=1e-5)
  _assert_trees_close(_penalty_grads(2 * REG_PARAM), reg_grads, rtol=1e-4)
  _assert_trees_close(ours, grads)


def test_reg_param_r_is_not_gamma_r():
  """gamma = r adds half of GAN_stability's term (the factor 1/2 R1 carries in gan_jax)."""
  grads, _, reg, reg_grads = _gan_stability(REG_PARAM)
  _, spec, metrics, ours = _gan_jax_update(REG_PARAM)
  added = spec.penalty_coefficient * metrics["d/penalty"]
  np.testing.assert_allclose(added, 0.5 * reg, rtol=1e-5)
  assert not np.isclose(added, reg, rtol=0.1)
  _assert_trees_close(_penalty_grads(REG_PARAM), jax.tree.map(lambda g: 0.5 * g, reg_grads),
                      rtol=1e-4)
  assert not _trees_close(_penalty_grads(REG_PARAM), reg_grads, rtol=0.1)
  assert not _trees_close(ours, grads, rtol=0.01)


def test_resnet_celeba_weighs_r1_as_gan_stability_reg_param_10():
  """The experiment that follows GAN_stability's defaults adds reg_param 10 times R1."""
  config = resnet_celeba.get_config()
  assert config.penalty.name == "r1"
  assert penalties.penalty_coefficient("r1", config.penalty.weight) == REG_PARAM
  assert config.penalty.weight == 2 * REG_PARAM
