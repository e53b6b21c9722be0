r"""RIDE teacher with 6 experts for distillation (normal stage-1 recipe), CIFAR-100-LT IF 100.

  python -m ltjax.main --config configs/cifar100_lt/ride_teacher_e6.py --workdir runs/cifar100_ride_teacher_e6

Reference top-1: 50.2 (69.3 / 52.1 / 25.8; RIDE model zoo, no routing).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_cifar_recipe("cifar100_lt", num_experts=6)
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
