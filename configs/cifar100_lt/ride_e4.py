r"""RIDE with 4 experts (stage 1: experts + diversity loss), ResNet-32, CIFAR-100-LT IF 100.

  python -m ltjax.main --config configs/cifar100_lt/ride_e4.py --workdir runs/cifar100_ride_e4
  # then routing: configs/cifar100_lt/ride_router.py; smoke: --config configs/cifar100_lt/ride_e4.py:smoke

Recipe: `ltjax.ride.recipes.ride_cifar_recipe` (ride.md). Reference top-1: stage 1 without distillation 49.58 (RIDE issue #6); paper 49.1 (69.3 / 49.3 / 26.0, distill + routing).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_cifar_recipe("cifar100_lt", num_experts=4)
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
