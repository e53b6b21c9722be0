r"""tau-normalised classifier (decoupling): W_c / ||W_c||^tau, tau chosen on the validation split over 0, 0.1, ..., 2; on a finished CIFAR-100-LT CE run (stage 1).

  python -m ltjax.main --config configs/cifar100_lt/ce.py --workdir runs/cifar100_ce        # stage 1
  python -m ltjax.main --config configs/cifar100_lt/tau_norm.py --workdir runs/cifar100_tau_norm \
      --config.decoupled.stage1_workdir=runs/cifar100_ce                          # stage 2
  # smoke test: --config configs/cifar100_lt/tau_norm.py:smoke with a smoke stage-1 workdir

Stage 2 reads the stage-1 feature cache (`<stage1>/features/`), never the test split for
tuning; its results.json has the same val/test fields as a training run.
Reference top-1 (IF 100): 41.0 (BagofTricks runs).
"""

from ltjax import config as config_lib
from ltjax.decoupled import recipes as decoupled_recipes


def get_config(arg: str | None = None):
  c = config_lib.cifar_lt_recipe("cifar100_lt")
  decoupled_recipes.decoupled_stage(c, "tau_norm", "runs/cifar100_ce")
  return config_lib.config_arg(c, arg, "cifar_resnet_tiny")
