r"""Category extrapolation on Places-LT: ViT-B fine-tuning, dinov2 init, auxiliary classes.

  python -m ltjax.main --config configs/granularity/places_lt_vit_dinov2.py --workdir runs/places_lt_extrap_dinov2 \
      --config.dataset.data_dir=/data/places_lt
  # smoke test (seconds, tiny ViT on fake data): --config configs/granularity/places_lt_vit_dinov2.py:smoke

Recipe: `ltjax.granularity.recipes.extrapolation_vit_recipe("places_lt", "dinov2")` (its docstring lists the
input files). Backbone: a DINOv2 ViT-B/14 checkpoint in timm layout, `dinov2_vitb_14.npz` under data_dir (its 37x37 position grid is resized to 16x16). Without auxiliary data, `--config.aux.source=` trains the
same recipe as the BalCE baseline. Not reproduced: random erasing, drop-path and the classifier
warm-up of the official scripts (README, category extrapolation).
Reference: Paper: Places-LT numbers not recoverable (granularity.md §5). Settings: the official Places-LT launch script of this backbone (`OFFICIAL_RUNS` in ltjax.granularity.recipes).
"""

from ltjax import config as config_lib
from ltjax.granularity import recipes as granularity_recipes


def get_config(arg: str | None = None):
  c = granularity_recipes.extrapolation_vit_recipe("places_lt", "dinov2")
  return config_lib.config_arg(c, arg, "vit_tiny")
