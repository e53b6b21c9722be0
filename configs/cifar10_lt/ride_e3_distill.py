r"""RIDE with 3 experts distilled from a 6-expert RIDE teacher, CIFAR-10-LT IF 100.

  python -m ltjax.main --config configs/cifar10_lt/ride_teacher_e6.py --workdir runs/cifar10_ride_teacher_e6
  python -m ltjax.main --config configs/cifar10_lt/ride_e3_distill.py --workdir runs/cifar10_ride_e3_distill \
      --config.distill.teacher_workdir=runs/cifar10_ride_teacher_e6
  python -m ltjax.main --config configs/cifar10_lt/ride_router.py --workdir runs/cifar10_ride_e3_distill_router \
      --config.decoupled.stage1_workdir=runs/cifar10_ride_e3_distill

KD term: T^2 KL(teacher || student mean) with T = 1.5, weight 1; as the reference, the whole loss
is multiplied by the number of experts (loss.distill_times_experts) and the teacher's BatchNorm
runs on batch statistics (distill.teacher_train_bn). Warm-up 20 epochs (the distill configs').
Reference top-1: none.
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_cifar_recipe("cifar10_lt", num_experts=3)
  c.distill.teacher_workdir = "runs/cifar10_ride_teacher_e6"
  c.optimizer.warmup_epochs = 20
  c = config_lib.config_arg(c, arg, "ride_cifar_tiny")
  if arg == "smoke":
    c.optimizer.warmup_epochs = 1
  return c
