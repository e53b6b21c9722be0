r"""Category extrapolation, offline demonstration on digits-LT (the embedded data).

Targets: digits 0-4, long-tailed as digits-LT over five classes (IF 20: 120 / 56 / 26 / 12 / 6
train images); auxiliary: digits 5-9 (all their ~180 images, at most `aux.cap` = 60 per class
and epoch). Digit names carry no meaning, so the neighbour table is mined from the classes'
mean images (`aux.mining_embedder = "pixel_prototypes"`), one neighbour per target.

  python -m ltjax.main --config configs/granularity/digits_lt_5plus5.py:aux_silenced \
      --workdir runs/extrap_digits_silenced
  # variants: targets (a) | aux_plain (b) | aux_silenced (c) | aux_shuffled (d) |
  #   aux_neighbors (c'), the official ImageNet-LT / Places-LT silencing
  # smoke test (seconds): --config configs/granularity/digits_lt_5plus5.py:aux_silenced,smoke
  # all four variants x 3 seeds: python -m ltjax.reproduce extrapolation_digits --workdir runs/extrap_digits

Measured: experiments/results/extrapolation_cpu.md.
"""

from ltjax import config as config_lib
from ltjax.granularity import recipes as granularity_recipes

AUX_CLASSES = ("5", "6", "7", "8", "9")


def get_config(arg: str | None = "aux_silenced"):
  variant, extra = granularity_recipes.split_variant_arg(arg, "aux_silenced")
  c = config_lib.digits_lt_recipe()
  c.aux.cap = 60
  c.aux.mining_k = 1
  c.aux.min_similarity = -1.0  # k = 1 picks the nearest prototype; every target gets one
  c.aux.mining_embedder = "pixel_prototypes"
  granularity_recipes.extrapolation_demo(c, AUX_CLASSES, variant)
  return config_lib.config_arg(c, extra, "small_cnn")
