r"""Balanced softmax on digits-LT (the embedded default data; under a minute on 2 CPUs).

  python -m ltjax.main --config configs/digits_lt/balanced_softmax.py --workdir runs/digits_balanced_softmax
  # smoke test (seconds): --config configs/digits_lt/balanced_softmax.py:smoke

Recipe: `ltjax.config.digits_lt_recipe` with this loss. Reference: none (a CPU-sized dataset;
the README and experiments/results hold the measured numbers).
"""

from ltjax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.digits_lt_recipe()
  c.loss.name = "balanced_softmax"
  return config_lib.config_arg(c, arg, "small_cnn")
