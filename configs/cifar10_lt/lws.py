r"""LWS (decoupling): learn per-class logit scales on the frozen classifier, class-balanced sampling, 5 epochs; on a finished CIFAR-10-LT CE run (stage 1).

  python -m ltjax.main --config configs/cifar10_lt/ce.py --workdir runs/cifar10_ce        # stage 1
  python -m ltjax.main --config configs/cifar10_lt/lws.py --workdir runs/cifar10_lws \
      --config.decoupled.stage1_workdir=runs/cifar10_ce                          # stage 2
  # smoke test: --config configs/cifar10_lt/lws.py:smoke with a smoke stage-1 workdir

Stage 2 reads the stage-1 feature cache (`<stage1>/features/`), never the test split for
tuning; its results.json has the same val/test fields as a training run.
Reference top-1 (IF 100): none in protocol.md.
"""

from ltjax import config as config_lib
from ltjax.decoupled import recipes as decoupled_recipes


def get_config(arg: str | None = None):
  c = config_lib.cifar_lt_recipe("cifar10_lt")
  decoupled_recipes.decoupled_stage(c, "lws", "runs/cifar10_ce")
  return config_lib.config_arg(c, arg, "cifar_resnet_tiny")
