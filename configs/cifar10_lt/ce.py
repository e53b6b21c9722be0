r"""Cross-entropy, ResNet-32, CIFAR-10-LT (imbalance factor 100), the LDAM-DRW recipe.

  python -m ltjax.main --config configs/cifar10_lt/ce.py --workdir runs/cifar10_ce \
      --config.dataset.data_dir=/path/containing/cifar-10-batches-py   # or cifar10.npz
  # other imbalance factors: --config.dataset.imbalance_factor=50 (or 10)
  # smoke test (seconds): --config configs/cifar10_lt/ce.py:smoke

Recipe as configs/cifar100_lt/ce.py. Data: the Cao et al. subset (12,406 train images at
IF100; 13,996 at IF50; 20,431 at IF10); val: 100 per class from the unused train images
(class 0 has none); test: the full balanced 10k. CIFAR-10-LT has no few-shot classes.
Reference: top-1 70.4 (LDAM paper).
"""

from ltjax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.cifar_lt_recipe("cifar10_lt")
  c.loss.name = "ce"
  return config_lib.config_arg(c, arg, "cifar_resnet_tiny")
