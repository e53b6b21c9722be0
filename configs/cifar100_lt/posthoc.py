r"""Post-hoc logit adjustment (Menon et al.): z - tau log prior on the CE model, tau chosen on the validation split; on a finished CIFAR-100-LT CE run (stage 1).

  python -m ltjax.main --config configs/cifar100_lt/ce.py --workdir runs/cifar100_ce        # stage 1
  python -m ltjax.main --config configs/cifar100_lt/posthoc.py --workdir runs/cifar100_posthoc \
      --config.decoupled.stage1_workdir=runs/cifar100_ce                          # stage 2
  # smoke test: --config configs/cifar100_lt/posthoc.py:smoke with a smoke stage-1 workdir

Stage 2 reads the stage-1 feature cache (`<stage1>/features/`), never the test split for
tuning; its results.json has the same val/test fields as a training run.
Reference top-1 (IF 100): none in protocol.md (the loss form: 43.9).
"""

from ltjax import config as config_lib
from ltjax.decoupled import recipes as decoupled_recipes


def get_config(arg: str | None = None):
  c = config_lib.cifar_lt_recipe("cifar100_lt")
  decoupled_recipes.decoupled_stage(c, "posthoc", "runs/cifar100_ce")
  return config_lib.config_arg(c, arg, "cifar_resnet_tiny")
