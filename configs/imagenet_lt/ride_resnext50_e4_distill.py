r"""RIDE, ResNeXt-50 with 4 experts distilled from a 6-expert teacher, ImageNet-LT.

  python -m ltjax.main --config configs/imagenet_lt/ride_resnext50_teacher_e6.py \
      --workdir runs/imagenet_lt_ride_resnext50_teacher_e6
  python -m ltjax.main --config configs/imagenet_lt/ride_resnext50_e4_distill.py \
      --workdir runs/imagenet_lt_ride_resnext50_e4_distill \
      --config.distill.teacher_workdir=runs/imagenet_lt_ride_resnext50_teacher_e6

Reference top-1: 56.8 (68.3 / 53.5 / 35.9) with routing (RIDE model zoo).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_imagenet_recipe(4, "ride_resnext50")
  c.distill.teacher_workdir = "runs/imagenet_lt_ride_resnext50_teacher_e6"
  return config_lib.config_arg(c, arg, "ride_resnet_tiny")
