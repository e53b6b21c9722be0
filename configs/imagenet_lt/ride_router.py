r"""RIDE expert assignment (stage 2) on a finished ImageNet-LT RIDE run (top-k 50).

  python -m ltjax.main --config configs/imagenet_lt/ride_router.py \
      --workdir runs/imagenet_lt_ride_resnext50_e3_router \
      --config.decoupled.stage1_workdir=runs/imagenet_lt_ride_resnext50_e3

Reference top-1: 55.7 for ResNeXt-50 RIDE-3 + routing (RIDE model zoo).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_imagenet_recipe(3, "ride_resnext50")
  ride_recipes.ride_router_stage(c, "runs/imagenet_lt_ride_resnext50_e3")
  c.decoupled.router_top_k = 50
  return config_lib.config_arg(c, arg, "ride_resnet_tiny")
