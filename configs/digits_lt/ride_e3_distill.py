r"""RIDE, 3 experts, distilled from the 6-expert digits-LT teacher.

  python -m ltjax.main --config configs/digits_lt/ride_e3_distill.py --workdir runs/digits_ride_e3_kd \
      --config.distill.teacher_workdir=runs/digits_ride_e6

Reference: none (a CPU-sized dataset; the reproduce table holds the measured numbers).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_digits_recipe(num_experts=3)
  c.distill.teacher_workdir = "runs/digits_ride_e6"
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
