r"""RIDE with 3 experts (stage 1: experts + diversity loss), ResNet-32, CIFAR-10-LT IF 100.

  python -m ltjax.main --config configs/cifar10_lt/ride_e3.py --workdir runs/cifar10_ride_e3
  # then routing: configs/cifar10_lt/ride_router.py; smoke: --config configs/cifar10_lt/ride_e3.py:smoke

Recipe: `ltjax.ride.recipes.ride_cifar_recipe` (ride.md). Reference top-1: none (RIDE does not report CIFAR-10-LT).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_cifar_recipe("cifar10_lt", num_experts=3)
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
