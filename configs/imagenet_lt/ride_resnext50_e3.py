r"""RIDE, resnext50 with 3 experts, ImageNet-LT (stage 1).

  python -m ltjax.main --config configs/imagenet_lt/ride_resnext50_e3.py --workdir runs/imagenet_lt_ride_resnext50_e3 \
      --config.dataset.data_dir=/data/imagenet   # holds the images and ImageNet_LT_*.txt

Recipe: `ltjax.ride.recipes.ride_imagenet_recipe` (ride.md §4.1). Selection uses the published val
split. Reference top-1: 55.7 (67.0 / 52.2 / 36.0) with routing (RIDE model zoo); 56.3 paper-style (SADE README).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_imagenet_recipe(3, "ride_resnext50")
  return config_lib.config_arg(c, arg, "ride_resnet_tiny")
