r"""DLSA on the digits-LT small-CNN CE features (128-d, 405 training images): depth 1, K = 10
components, flow batch 64 (see `ltjax.dlsa.recipes.dlsa_small_features`).

  python -m ltjax.main --config configs/digits_lt/ce.py --workdir runs/digits_ce
  python -m ltjax.main --config configs/dlsa/digits_lt_ce.py --workdir runs/dlsa_digits \
      --config.dlsa.features=runs/digits_ce

Expected: not in the paper; measured rows in experiments/results/dlsa_cpu.md.
"""

from ltjax.dlsa import recipes as dlsa_recipes


def get_config(arg: str | None = None):
  c = dlsa_recipes.dlsa_small_features(dlsa_recipes.dlsa_recipe(), num_clusters=10,
                                     flow_batch_size=64)
  return dlsa_recipes.dlsa_smoke(c, arg)
