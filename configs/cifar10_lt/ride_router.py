r"""RIDE expert assignment (stage 2): routers on a finished RIDE run's frozen experts, CIFAR-10-LT.

  python -m ltjax.main --config configs/cifar10_lt/ride_e3.py --workdir runs/cifar10_ride_e3
  python -m ltjax.main --config configs/cifar10_lt/ride_router.py --workdir runs/cifar10_ride_e3_router \
      --config.decoupled.stage1_workdir=runs/cifar10_ride_e3

Trains on the stage-1 feature cache (per-expert logits and pooled features of un-augmented
train images; the reference re-runs the frozen experts on augmented images). results.json gets
`routing`: the share of test samples per number of experts used (overall and per bucket), the
mean number of experts and the flops per image from XLA's cost analysis.
Reference top-1: none.
"""

from ltjax import config as config_lib
from ltjax.ride import recipes as ride_recipes


def get_config(arg: str | None = None):
  c = ride_recipes.ride_cifar_recipe("cifar10_lt", num_experts=3)
  ride_recipes.ride_router_stage(c, "runs/cifar10_ride_e3")
  return config_lib.config_arg(c, arg, "ride_cifar_tiny")
