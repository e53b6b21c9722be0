r"""DLSA on ltjax's own CIFAR-10-LT ResNet-32 CE features (64-d): depth 1, K = 100 components,
flow batch 256, lr 0.05 with the C/1000 NLL scaling (`ltjax.dlsa.recipes.dlsa_small_features` says
how these were chosen).

  python -m ltjax.main --config configs/cifar10_lt/ce.py --workdir runs/cifar10_ce
  python -m ltjax.main --config configs/dlsa/cifar10_lt_ce.py --workdir runs/dlsa_cifar10 \
      --config.dlsa.features=runs/cifar10_ce

Expected: not in the paper (no CIFAR experiments); measured rows in
experiments/results/dlsa_cpu.md.
"""

from ltjax.dlsa import recipes as dlsa_recipes


def get_config(arg: str | None = None):
  c = dlsa_recipes.dlsa_small_features(dlsa_recipes.dlsa_recipe(), num_clusters=100,
                                     flow_batch_size=256)
  return dlsa_recipes.dlsa_smoke(c, arg)
