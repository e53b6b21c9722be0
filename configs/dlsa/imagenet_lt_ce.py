r"""DLSA on ImageNet-LT ResNet-50 CE features (the reference's ImgNet_CE_R50_bsm): depth 1, flow
batch 1024 x 50 epochs, lambdas lh 2 / balance 1 / purity 0.02, BSM linear heads at lr 1e-2.

  # features: a stage-1 run with train.cache_features=True, e.g. configs/imagenet_lt/ce.py
  # (ltjax's is ResNeXt-50; the reference used a Decouple R50), or h5/npz features you bring.
  python -m ltjax.main --config configs/dlsa/imagenet_lt_ce.py --workdir runs/dlsa_in_ce \
      --config.dlsa.features=runs/imagenet_lt_ce

Expected: no verified DLSA number (dlsa.md §6: the paper's tables could not be checked);
compare against the control and stage-1 rows results.json reports.
"""

from ltjax.dlsa import recipes as dlsa_recipes


def get_config(arg: str | None = None):
  return dlsa_recipes.dlsa_smoke(dlsa_recipes.dlsa_recipe(), arg)
