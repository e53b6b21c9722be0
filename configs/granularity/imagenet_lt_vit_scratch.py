r"""Category extrapolation on ImageNet-LT: ViT-B fine-tuning, scratch init, auxiliary classes.

  python -m ltjax.main --config configs/granularity/imagenet_lt_vit_scratch.py --workdir runs/imagenet_lt_extrap_scratch \
      --config.dataset.data_dir=/data/imagenet_lt
  # smoke test (seconds, tiny ViT on fake data): --config configs/granularity/imagenet_lt_vit_scratch.py:smoke

Recipe: `ltjax.granularity.recipes.extrapolation_vit_recipe("imagenet_lt", "scratch")` (its docstring lists the
input files). Backbone: the LiVT / MAE ViT-B/16 checkpoint in timm layout (`--config.model.pretrained=mae_vitb16.npz`; leave empty for a true from-scratch run). Without auxiliary data, `--config.aux.source=` trains the
same recipe as the BalCE baseline. Not reproduced: random erasing, drop-path and the classifier
warm-up of the official scripts (README, category extrapolation).
Reference: Paper (secondary sources, unverified against the PDF): ImageNet-LT, ViT-B/16 'scratch' (LiVT MAE init) BalCE baseline 60.9 -> 68.2 with auxiliary classes and silencing (many 74.5 / medium 66.2 / few 57.4); no silencing 64.9; random web data 56.8.
"""

from ltjax import config as config_lib
from ltjax.granularity import recipes as granularity_recipes


def get_config(arg: str | None = None):
  c = granularity_recipes.extrapolation_vit_recipe("imagenet_lt", "scratch")
  return config_lib.config_arg(c, arg, "vit_tiny")
