r"""DLSA on iNaturalist 2018 ResNet-50 PaCo features (Inat_PaCo_R50_bsm): depth 3, flow 30
epochs, lambda_lh 1, heads at lr 1e-4.

  # The reference reads iNat's official val as its test (feature_val.h5); ltjax then holds out
  # dlsa.val_holdout_fraction of each class of train for selection.
  python -m ltjax.main --config configs/dlsa/inat2018_paco.py --workdir runs/dlsa_inat \
      --config.dlsa.features=features/inat_paco

Memory: 437.5k x 2048 float32 features are 3.6 GB on the host; the flow step sees one batch,
evaluation streams chunks of dlsa.flow.eval_chunk. Expected: no verified DLSA number (PaCo
alone: 73.2).
"""

from ltjax.dlsa import recipes as dlsa_recipes


def get_config(arg: str | None = None):
  c = dlsa_recipes.dlsa_recipe(max_depth=3, flow_epochs=30, lambdas=(1.0, 1.0, 0.02),
                             head_learning_rate=1e-4)
  return dlsa_recipes.dlsa_smoke(c, arg)
