r"""tau-normalised classifier (decoupling): W_c / ||W_c||^tau, tau chosen on the validation split over 0, 0.1, ..., 2; on a finished ImageNet-LT ResNeXt-50 CE run (stage 1).

  python -m ltjax.main --config configs/imagenet_lt/ce.py --workdir runs/imagenet_lt_ce
  python -m ltjax.main --config configs/imagenet_lt/tau_norm.py --workdir runs/imagenet_lt_tau_norm \
      --config.decoupled.stage1_workdir=runs/imagenet_lt_ce

Tuning (where the method has a strength) uses the published ImageNet-LT val split (20/class).
Reference: top-1 49.4 (decoupling paper, ResNeXt-50, 90 epochs).
"""

from ltjax import config as config_lib
from ltjax.decoupled import recipes as decoupled_recipes


def get_config(arg: str | None = None):
  c = config_lib.default_config()
  c.dataset.name = "image_folder"
  decoupled_recipes.decoupled_stage(c, "tau_norm", "runs/imagenet_lt_ce")
  return config_lib.config_arg(c, arg, "resnet_tiny")
