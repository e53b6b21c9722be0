r"""DLSA on ltjax's own CIFAR-100-LT ResNet-32 CE features (64-d): depth 1, K = 100, flow batch
256, lr 0.05 with the C/1000 NLL scaling (see `ltjax.dlsa.recipes.dlsa_small_features`).

  python -m ltjax.main --config configs/cifar100_lt/ce.py --workdir runs/cifar100_ce
  python -m ltjax.main --config configs/dlsa/cifar100_lt_ce.py --workdir runs/dlsa_cifar100 \
      --config.dlsa.features=runs/cifar100_ce

Expected: not in the paper (no CIFAR experiments).
"""

from ltjax.dlsa import recipes as dlsa_recipes


def get_config(arg: str | None = None):
  c = dlsa_recipes.dlsa_small_features(dlsa_recipes.dlsa_recipe(), num_clusters=100,
                                     flow_batch_size=256)
  return dlsa_recipes.dlsa_smoke(c, arg)
