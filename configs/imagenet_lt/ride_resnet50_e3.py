r"""RIDE, resnet50 with 3 experts, ImageNet-LT (stage 1).

  python -m ltjax.main --config configs/imagenet_lt/ride_resnet50_e3.py --workdir runs/imagenet_lt_ride_resnet50_e3 \
      --config.dataset.data_dir=/data/imagenet   # holds the images and ImageNet_LT_*.txt

Recipe: `ltjax.ride.recipes.ride_imagenet_recipe` (ride.md §4.1). Selection uses the published val
split. Reference top-1: 54.9 (paper, unverified per ride.md); 51.8 seen by a 1-GPU user (RIDE issue #34).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_imagenet_recipe(3, "ride_resnet50")
  return config_lib.config_arg(c, arg, "ride_resnet_tiny")
