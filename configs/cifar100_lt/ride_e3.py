r"""RIDE with 3 experts (stage 1: experts + diversity loss), ResNet-32, CIFAR-100-LT IF 100.

  python -m ltjax.main --config configs/cifar100_lt/ride_e3.py --workdir runs/cifar100_ride_e3
  # then routing: configs/cifar100_lt/ride_router.py; smoke: --config configs/cifar100_lt/ride_e3.py:smoke

Recipe: `ltjax.ride.recipes.ride_cifar_recipe` (ride.md). Reference top-1: stage 1 without distillation 47.8 - 48.7 (RIDE issues #7 / #2); paper 48.0 (distill + routing).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_cifar_recipe("cifar100_lt", num_experts=3)
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
