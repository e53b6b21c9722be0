r"""RIDE, 6 experts, on digits-LT: the distillation teacher of configs/digits_lt/ride_e3_distill.py.

  python -m ltjax.main --config configs/digits_lt/ride_teacher_e6.py --workdir runs/digits_ride_e6

Reference: none (a CPU-sized dataset; the reproduce table holds the measured numbers).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  return config_lib.config_arg(ride_recipes.ride_digits_recipe(num_experts=6), arg,
                               "ride_cifar_tiny")
