r"""DLSA on ImageNet-LT ResNet-50 class-balanced-sampling features (ImgNet_CBS_R50_bsm): as
imagenet_lt_ce.py, only the features differ (the feature-evaluation use).

  python -m ltjax.main --config configs/dlsa/imagenet_lt_cbs.py --workdir runs/dlsa_in_cbs \
      --config.dlsa.features=runs/imagenet_lt_cbs   # stage 1 with config.sampler=class_balanced

Expected: no verified DLSA number (dlsa.md §6).
"""

from ltjax.dlsa import recipes as dlsa_recipes


def get_config(arg: str | None = None):
  return dlsa_recipes.dlsa_smoke(dlsa_recipes.dlsa_recipe(), arg)
