r"""LWS on a finished digits-LT CE run (decoupled stage 2, on its feature cache).

  python -m ltjax.main --config configs/digits_lt/ce.py --workdir runs/digits_ce
  python -m ltjax.main --config configs/digits_lt/lws.py --workdir runs/digits_lws \
      --config.decoupled.stage1_workdir=runs/digits_ce

Reference: none (measured numbers in the README and experiments/results).
"""

from ltjax import config as config_lib
from ltjax.decoupled import recipes as decoupled_recipes


def get_config(arg: str | None = None):
  c = config_lib.digits_lt_recipe()
  decoupled_recipes.decoupled_stage(c, "lws", "runs/digits_ce")
  return config_lib.config_arg(c, arg, "small_cnn")
