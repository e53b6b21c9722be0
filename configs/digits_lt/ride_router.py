r"""RIDE's expert assignment (routers) on a finished digits-LT RIDE-3 run.

  python -m ltjax.main --config configs/digits_lt/ride_router.py --workdir runs/digits_router \
      --config.decoupled.stage1_workdir=runs/digits_ride_e3

Reference: none (a CPU-sized dataset; the reproduce table holds the measured numbers).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_digits_recipe(num_experts=3)
  ride_recipes.ride_router_stage(c, "runs/digits_ride_e3")
  c.decoupled.batch_size = 128  # 405 training images
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
