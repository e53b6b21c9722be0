r"""Category extrapolation on iNaturalist 2018: ViT-B fine-tuning, dinov2 init, auxiliary classes.

  python -m ltjax.main --config configs/granularity/inat2018_vit_dinov2.py --workdir runs/inat2018_extrap_dinov2 \
      --config.dataset.data_dir=/data/inat2018
  # smoke test (seconds, tiny ViT on fake data): --config configs/granularity/inat2018_vit_dinov2.py:smoke

Recipe: `ltjax.granularity.recipes.extrapolation_vit_recipe("inat2018", "dinov2")` (its docstring lists the
input files). Backbone: a DINOv2 ViT-B/14 checkpoint in timm layout, `dinov2_vitb_14.npz` under data_dir (its 37x37 position grid is resized to 16x16). Without auxiliary data, `--config.aux.source=` trains the
same recipe as the BalCE baseline. Not reproduced: random erasing, drop-path and the classifier
warm-up of the official scripts (README, category extrapolation).
Reference: Paper: iNaturalist 2018 numbers not recoverable (granularity.md §5).
"""

from ltjax import config as config_lib
from ltjax.granularity import recipes as granularity_recipes


def get_config(arg: str | None = None):
  c = granularity_recipes.extrapolation_vit_recipe("inat2018", "dinov2")
  return config_lib.config_arg(c, arg, "vit_tiny")
