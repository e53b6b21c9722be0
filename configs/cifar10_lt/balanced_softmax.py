r"""Balanced softmax (Ren et al.): CE(z + log n_c); ResNet-32, CIFAR-10-LT (imbalance factor 100).

  python -m ltjax.main --config configs/cifar10_lt/balanced_softmax.py --workdir runs/cifar10_balanced_softmax \
      --config.dataset.data_dir=/data/cifar   # holds cifar-10-batches-py/ or cifar10.npz
  # other imbalance factors: --config.dataset.imbalance_factor=50 (or 10)
  # smoke test (seconds): --config configs/cifar10_lt/balanced_softmax.py:smoke

Recipe: the LDAM-DRW CIFAR-LT recipe (`ltjax.config.cifar_lt_recipe`: 200 epochs, batch 128,
lr 0.1, 5-epoch warm-up, x0.01 at 160, x0.0001 at 180, weight decay 2e-4) with this loss.
Reference top-1 (IF 100): none in protocol.md.
"""

from ltjax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.cifar_lt_recipe("cifar10_lt")
  c.loss.name = "balanced_softmax"
  return config_lib.config_arg(c, arg, "cifar_resnet_tiny")
