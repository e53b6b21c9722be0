r"""DLSA on Places-LT ResNet-152 CE features (Places_CE_R152_bsm): depth 1, flow batch 512 x 60
epochs, lambdas lh 1 / balance 2 / purity 0.03, BSM linear heads at lr 1e-2.

  python -m ltjax.main --config configs/dlsa/places_lt_ce.py --workdir runs/dlsa_places \
      --config.dlsa.features=features/places_ce_r152   # h5 or npz; or an ltjax stage-1 run

Expected: no verified DLSA number (dlsa.md §6).
"""

from ltjax.dlsa import recipes as dlsa_recipes


def get_config(arg: str | None = None):
  c = dlsa_recipes.dlsa_recipe(flow_batch_size=512, flow_epochs=60, lambdas=(1.0, 2.0, 0.03))
  return dlsa_recipes.dlsa_smoke(c, arg)
