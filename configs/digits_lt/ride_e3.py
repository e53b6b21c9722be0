r"""RIDE, 3 experts, on digits-LT: the RIDE loss (diversity lambda -0.45, gamma 0.05, LDAM
margins, DRW and per-class temperature from epoch 48 of 60) on a tiny RIDE network, the
digits recipe's optimizer and schedule otherwise. A CPU-sized stand-in for the RIDE rows of
the reproduction tables (`python -m ltjax.reproduce digits_lt`).

  python -m ltjax.main --config configs/digits_lt/ride_e3.py --workdir runs/digits_ride_e3

Reference: none (a CPU-sized dataset; the reproduce table holds the measured numbers).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  return config_lib.config_arg(ride_recipes.ride_digits_recipe(num_experts=3), arg,
                               "ride_cifar_tiny")
