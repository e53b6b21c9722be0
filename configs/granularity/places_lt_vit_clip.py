r"""Category extrapolation on Places-LT: ViT-B fine-tuning, clip init, auxiliary classes.

  python -m ltjax.main --config configs/granularity/places_lt_vit_clip.py --workdir runs/places_lt_extrap_clip \
      --config.dataset.data_dir=/data/places_lt
  # smoke test (seconds, tiny ViT on fake data): --config configs/granularity/places_lt_vit_clip.py:smoke

Recipe: `ltjax.granularity.recipes.extrapolation_vit_recipe("places_lt", "clip")` (its docstring lists the
input files). Backbone: OpenAI CLIP's ViT-B/16 image tower in timm layout, `clip_vitb_16.npz` under data_dir (linear head on the 768-d token; CLIP's text-initialised cosine head is not reproduced). Without auxiliary data, `--config.aux.source=` trains the
same recipe as the BalCE baseline. Not reproduced: random erasing, drop-path and the classifier
warm-up of the official scripts (README, category extrapolation).
Reference: Paper: Places-LT numbers not recoverable (granularity.md §5). Settings: the official Places-LT launch script of this backbone (`OFFICIAL_RUNS` in ltjax.granularity.recipes).
"""

from ltjax import config as config_lib
from ltjax.granularity import recipes as granularity_recipes


def get_config(arg: str | None = None):
  c = granularity_recipes.extrapolation_vit_recipe("places_lt", "clip")
  return config_lib.config_arg(c, arg, "vit_tiny")
