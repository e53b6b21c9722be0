r"""Cross-entropy on digits-LT, the embedded default (no download; a few minutes on 2 CPUs).

  python -m ltjax.main --config configs/digits_lt/ce.py --workdir runs/digits_ce
  python -m ltjax.main --config configs/digits_lt/ce.py:smoke --workdir /tmp/smoke

Data: scikit-learn's 8x8 digits; balanced test (40/class) and val (10/class) carved first,
then an exponential long-tailed train split, n_max 120, imbalance factor 20:
120, 86, 61, 44, 31, 22, 16, 11, 8, 6 images (1 many / 5 medium / 4 few classes).
Model: a small CNN. Expected: see the README's table (measured, not a paper number).
"""

from ltjax import config as config_lib


def get_config(arg: str | None = None):
  c = config_lib.digits_lt_recipe()
  c.loss.name = "ce"
  return config_lib.config_arg(c, arg, "small_cnn")
