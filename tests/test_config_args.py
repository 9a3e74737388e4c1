"""The one grammar of experiment arguments (gan_jax/configs/args.py), in every config file."""

import pytest

from experiments import (conditional, cyclegan_fashion_mnist, dcgan_cifar10,
                         dcgan_fashion_mnist, dirac_gan, resnet_celeba, seed000_table1,
                         seed003_gan_stability, seed004_mlp, toy_modes, toy_ring)
from gan_jax.configs import args
from gan_jax.errors import ConfigError

FIELDS = [("algo", ("a", "b"), "a"), ("dataset", ("x", "y"), "x")]


def test_positions_default_from_the_right_and_runlocal_goes_anywhere():
  assert args.parse(None, fields=FIELDS, where="f.py") == ({"algo": "a", "dataset": "x"}, False)
  assert args.parse("b", fields=FIELDS, where="f.py") == ({"algo": "b", "dataset": "x"}, False)
  assert args.parse("runlocal,b,y", fields=FIELDS, where="f.py") == (
      {"algo": "b", "dataset": "y"}, True)


@pytest.mark.parametrize("bad", ["c", "b,z", "a,x,x", "x"])
def test_a_bad_argument_names_the_grammar_and_the_choices(bad):
  with pytest.raises(ConfigError, match=r"for f.py: expected '\[<algo>\]\[,<dataset>\]"
                     r"\[,runlocal\]' with algo in a, b; dataset in x, y"):
    args.parse(bad, fields=FIELDS, where="f.py")


CONFIG_MODULES = [conditional, cyclegan_fashion_mnist, dcgan_cifar10, dcgan_fashion_mnist,
                  dirac_gan, resnet_celeba, seed000_table1, seed003_gan_stability, seed004_mlp,
                  toy_modes, toy_ring]


@pytest.mark.parametrize("module", CONFIG_MODULES)
def test_every_config_file_takes_runlocal_and_refuses_nonsense(module):
  full, small = module.get_config(), module.get_config("runlocal")
  assert full.to_dict() != small.to_dict()
  with pytest.raises(ConfigError, match="Bad config argument 'nonsense'"):
    module.get_config("nonsense")


def test_every_config_file_is_checked():
  """Each file of experiments/ is in the list above, or (it registers an
  objective and a trick, which the other tests' enumerations must not see)
  checked with its registrations undone in tests/test_plugins.py."""
  import os  # pylint: disable=g-import-not-at-top
  folder = os.path.dirname(toy_ring.__file__)
  files = {f[:-3] for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py"}
  listed = {m.__name__.split(".")[-1] for m in CONFIG_MODULES}
  assert files == listed | {"my_idea"}


def test_toy_ring_takes_an_objective_a_variant_and_runlocal():
  assert toy_ring.get_config("hinge").objective == "hinge"
  assert toy_ring.get_config("r1,runlocal").penalty.name == "r1"
  assert toy_ring.get_config("runlocal").train.num_steps < toy_ring.get_config().train.num_steps
