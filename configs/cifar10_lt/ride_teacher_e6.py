r"""RIDE teacher with 6 experts for distillation (normal stage-1 recipe), CIFAR-10-LT IF 100.

  python -m ltjax.main --config configs/cifar10_lt/ride_teacher_e6.py --workdir runs/cifar10_ride_teacher_e6

Reference top-1: none.
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_cifar_recipe("cifar10_lt", num_experts=6)
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
