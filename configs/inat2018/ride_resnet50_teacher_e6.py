r"""RIDE, ResNet-50 with 6 experts, iNaturalist 2018 (8,142 classes).

  python -m ltjax.main --config configs/inat2018/ride_resnet50_teacher_e6.py --workdir runs/inat2018_ride_resnet50_teacher_e6 \
      --config.dataset.data_dir=/data/inat2018   # images + iNaturalist18_{train,val}.txt

The official val list is the test set; there is no held-out validation split, so the last
epoch is tested (train.select falls back to "last"). iNaturalist's own mean/std are not
applied (ImageNet statistics are used). Reference top-1: 72.9 (71.1 / 72.9 / 73.3; RIDE model zoo).
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_imagenet_recipe(6, "ride_resnet50", inat=True)
  return config_lib.config_arg(c, arg, "ride_resnet_tiny")
