r"""RIDE with 2 experts (stage 1: experts + diversity loss), ResNet-32, CIFAR-100-LT IF 100.

  python -m ltjax.main --config configs/cifar100_lt/ride_e2.py --workdir runs/cifar100_ride_e2
  # then routing: configs/cifar100_lt/ride_router.py; smoke: --config configs/cifar100_lt/ride_e2.py:smoke

Recipe: `ltjax.ride.recipes.ride_cifar_recipe` (ride.md). Reference top-1: paper 47.0 (67.9 / 48.4 / 21.8; ride.md marks it unverified); stage 1 only, no distill, no routing.
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_cifar_recipe("cifar100_lt", num_experts=2)
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
