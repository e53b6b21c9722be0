r"""Category extrapolation on iNaturalist 2018: ViT-B fine-tuning, scratch init, auxiliary classes.

  python -m ltjax.main --config configs/granularity/inat2018_vit_scratch.py --workdir runs/inat2018_extrap_scratch \
      --config.dataset.data_dir=/data/inat2018
  # smoke test (seconds, tiny ViT on fake data): --config configs/granularity/inat2018_vit_scratch.py:smoke

Recipe: `ltjax.granularity.recipes.extrapolation_vit_recipe("inat2018", "scratch")` (its docstring lists the
input files). Backbone: the LiVT / MAE ViT-B/16 checkpoint in timm layout (`--config.model.pretrained=mae_vitb16.npz`; leave empty for a true from-scratch run). Without auxiliary data, `--config.aux.source=` trains the
same recipe as the BalCE baseline. Not reproduced: random erasing, drop-path and the classifier
warm-up of the official scripts (README, category extrapolation).
Reference: Paper: iNaturalist 2018 numbers not recoverable (granularity.md §5); LiVT's own ViT-B/16 baseline is 76.1.
"""

from ltjax import config as config_lib
from ltjax.granularity import recipes as granularity_recipes


def get_config(arg: str | None = None):
  c = granularity_recipes.extrapolation_vit_recipe("inat2018", "scratch")
  return config_lib.config_arg(c, arg, "vit_tiny")
