r"""DLSA on ImageNet-LT ResNet-50 PaCo features (ImgNet_PaCo_R50_bsm): depth 3, heads at lr 1e-4.

  # PaCo features are not made by ltjax: export them from the PaCo code as h5 (features,
  # labels: feature_train.h5, feature_val.h5, feature_test.h5) or npz.
  python -m ltjax.main --config configs/dlsa/imagenet_lt_paco.py --workdir runs/dlsa_in_paco \
      --config.dlsa.features=features/imagenet_paco

Left out: the reference initialises A from PaCo's fc (`linear.weight`); ltjax heads start from
PyTorch's default init. Expected: no verified DLSA number (dlsa.md §6; PaCo alone: 57.0).
"""

from ltjax.dlsa import recipes as dlsa_recipes


def get_config(arg: str | None = None):
  c = dlsa_recipes.dlsa_recipe(max_depth=3, head_learning_rate=1e-4)
  return dlsa_recipes.dlsa_smoke(c, arg)
