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
  c = config_lib.default_config()
  c.dataset.name = "digits_lt"
  c.dataset.source = "digits"
  c.dataset.imbalance_factor = 20.0
  c.dataset.n_max = 120
  c.dataset.test_per_class = 40
  c.dataset.val_per_class = 10
  c.model.name = "small_cnn"
  c.augment.crop_padding = 1  # digits are 8x8: a 1-pixel shift; never flip a digit
  c.augment.flip = False
  c.optimizer.learning_rate = 0.05
  c.optimizer.weight_decay = 5e-4
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_epochs = 2
  c.train.batch_size = 32
  c.train.num_epochs = 60
  c.train.log_every_steps = 50
  c.train.checkpoint_every_epochs = 5
  if arg == "smoke":
    config_lib.shrink_for_smoke(c, "small_cnn")
    c.dataset.eval_per_class_limit = 0  # digits eval is tiny already
  elif arg:
    raise ValueError(f"unknown config argument {arg!r}; use 'smoke' or nothing")
  return c
