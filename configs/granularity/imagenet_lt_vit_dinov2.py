r"""Category extrapolation on ImageNet-LT: ViT-B fine-tuning, dinov2 init, auxiliary classes.

  python -m ltjax.main --config configs/granularity/imagenet_lt_vit_dinov2.py --workdir runs/imagenet_lt_extrap_dinov2 \
      --config.dataset.data_dir=/data/imagenet_lt
  # smoke test (seconds, tiny ViT on fake data): --config configs/granularity/imagenet_lt_vit_dinov2.py:smoke

Recipe: `ltjax.granularity.recipes.extrapolation_vit_recipe("imagenet_lt", "dinov2")` (its docstring lists the
input files). Backbone: a DINOv2 ViT-B/14 checkpoint in timm layout, `dinov2_vitb_14.npz` under data_dir (its 37x37 position grid is resized to 16x16). Without auxiliary data, `--config.aux.source=` trains the
same recipe as the BalCE baseline. Not reproduced: random erasing, drop-path and the classifier
warm-up of the official scripts (README, category extrapolation).
Reference: Paper (secondary sources, unverified): ImageNet-LT, DINOv2 init, baseline 79.6 -> 82.0.
"""

from ltjax import config as config_lib
from ltjax.granularity import recipes as granularity_recipes


def get_config(arg: str | None = None):
  c = granularity_recipes.extrapolation_vit_recipe("imagenet_lt", "dinov2")
  return config_lib.config_arg(c, arg, "vit_tiny")
