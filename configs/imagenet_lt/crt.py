r"""cRT (decoupling): re-train the linear classifier on frozen stage-1 features, class-balanced sampling, 10 epochs, lr 0.2 cosine; on a finished ImageNet-LT ResNeXt-50 CE run (stage 1).

  python -m ltjax.main --config configs/imagenet_lt/ce.py --workdir runs/imagenet_lt_ce
  python -m ltjax.main --config configs/imagenet_lt/crt.py --workdir runs/imagenet_lt_crt \
      --config.decoupled.stage1_workdir=runs/imagenet_lt_ce

Tuning (where the method has a strength) uses the published ImageNet-LT val split (20/class).
Reference: top-1 49.6 (decoupling paper, ResNeXt-50, 90 epochs).
"""

from ltjax import config as config_lib
from ltjax.decoupled import recipes as decoupled_recipes


def get_config(arg: str | None = None):
  c = config_lib.default_config()
  c.dataset.name = "image_folder"
  decoupled_recipes.decoupled_stage(c, "crt", "runs/imagenet_lt_ce")
  return config_lib.config_arg(c, arg, "resnet_tiny")
