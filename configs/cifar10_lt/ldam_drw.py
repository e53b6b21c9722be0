r"""LDAM-DRW (Cao et al.): LDAM margins (max 0.5, s = 30) on a cosine classifier, class-balanced re-weighting (beta 0.9999) from epoch 160; ResNet-32, CIFAR-10-LT (imbalance factor 100).

  python -m ltjax.main --config configs/cifar10_lt/ldam_drw.py --workdir runs/cifar10_ldam_drw \
      --config.dataset.data_dir=/data/cifar   # holds cifar-10-batches-py/ or cifar10.npz
  # other imbalance factors: --config.dataset.imbalance_factor=50 (or 10)
  # smoke test (seconds): --config configs/cifar10_lt/ldam_drw.py:smoke

Recipe: the LDAM-DRW CIFAR-LT recipe (`ltjax.config.cifar_lt_recipe`: 200 epochs, batch 128,
lr 0.1, 5-epoch warm-up, x0.01 at 160, x0.0001 at 180, weight decay 2e-4) with this loss.
Reference top-1 (IF 100): 77.0 (LDAM paper).
"""

from ltjax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.cifar_lt_recipe("cifar10_lt")
  c.loss.name = "ldam"
  c.loss.ldam_max_margin = 0.5
  c.loss.ldam_scale = 30.0
  c.model.normed_classifier = True
  c.loss.reweight = "drw"
  c.loss.drw_epoch = 160
  c.loss.cb_beta = 0.9999
  return config_lib.config_arg(c, arg, "cifar_resnet_tiny")
