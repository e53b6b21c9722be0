r"""RIDE, resnext50 with 6 experts, ImageNet-LT (stage 1).

  python -m ltjax.main --config configs/imagenet_lt/ride_resnext50_teacher_e6.py --workdir runs/imagenet_lt_ride_resnext50_teacher_e6 \
      --config.dataset.data_dir=/data/imagenet   # holds the images and ImageNet_LT_*.txt

Recipe: `ltjax.ride.recipes.ride_imagenet_recipe` (ride.md §4.1). Selection uses the published val
split. Reference top-1: 57.5 (68.9 / 54.3 / 36.5; RIDE model zoo).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_imagenet_recipe(6, "ride_resnext50")
  return config_lib.config_arg(c, arg, "ride_resnet_tiny")
