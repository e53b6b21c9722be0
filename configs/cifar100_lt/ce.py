r"""Cross-entropy, ResNet-32, CIFAR-100-LT (imbalance factor 100), the LDAM-DRW recipe.

  python -m ltjax.main --config configs/cifar100_lt/ce.py --workdir runs/cifar100_ce \
      --config.dataset.data_dir=/path/containing/cifar-100-python
  # other imbalance factors: --config.dataset.imbalance_factor=50 (or 10)
  # smoke test (seconds): --config configs/cifar100_lt/ce.py:smoke

Recipe (protocol.md): 200 epochs, batch 128, SGD momentum 0.9, lr 0.1 with a 5-epoch per-epoch
linear warm-up, x0.01 from epoch 160 and x0.0001 from 180, weight decay 2e-4; pad-4 crop + flip.
Data: the Cao et al. subset (seed 0, 10,847 train images at IF100; 12,608 at IF50; 19,573 at
IF10); val: 20 per class from the unused train images (class 0 has none; classes near the
head may have fewer at IF10); test: the full balanced 10k.
Reference: top-1 38.3 (LDAM paper) / 39.1 with many/medium/few 66.1/37.3/10.6 (RIDE model zoo).
"""

from ltjax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.cifar_lt_recipe("cifar100_lt")
  c.loss.name = "ce"
  return config_lib.config_arg(c, arg, "cifar_resnet_tiny")
