r"""Category extrapolation, offline demonstration on CIFAR-10 (granularity.md §8, our protocol).

Targets: airplane, automobile, bird, cat, deer, made long-tailed (Cao et al. profile over the
five, IF 100: 5000 / 1581 / 500 / 158 / 50 train images); auxiliary: dog, frog, horse, ship,
truck (all their 5,000 train images each, at most `aux.cap` = 500 per class and epoch, redrawn
every epoch). The neighbour table is mined from the class names with the MiniLM embedder, one
neighbour per target (k = 1: five candidates cannot support the official 8). Test: the 5,000
target test images; val: 100 per target class from the unused train images (class 0 has none).

  python -m ltjax.main --config configs/granularity/cifar10_lt_5plus5.py:aux_silenced \
      --workdir runs/extrap_c10_silenced --config.dataset.data_dir=../shared/data
  # variants: targets (a) | aux_plain (b) | aux_silenced (c) | aux_shuffled (d) |
  #   aux_neighbors (c'), the official ImageNet-LT / Places-LT silencing
  # smoke test (seconds): --config configs/granularity/cifar10_lt_5plus5.py:aux_silenced,smoke
  # all four variants x 3 seeds: python -m ltjax.reproduce extrapolation_cifar10 --workdir runs/extrap_c10 --config.dataset.data_dir=DIR

Model and schedule are CPU-sized (the small CNN, 20 epochs of cosine SGD): this tests the
mechanism, not the paper's numbers. Measured: experiments/results/extrapolation_cpu.md.
"""

from ltjax import config as config_lib
from ltjax.granularity import recipes as granularity_recipes

AUX_CLASSES = ("dog", "frog", "horse", "ship", "truck")


def get_config(arg: str | None = "aux_silenced"):
  variant, extra = granularity_recipes.split_variant_arg(arg, "aux_silenced")
  c = config_lib.cifar_lt_recipe("cifar10_lt")
  c.model.name = "small_cnn"
  c.train.num_epochs = 20
  c.train.checkpoint_every_epochs = 5
  c.optimizer.learning_rate = 0.05
  c.optimizer.weight_decay = 5e-4
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_epochs = 1
  c.aux.cap = 500
  c.aux.mining_k = 1
  c.aux.min_similarity = 0.0  # k = 1 already picks the nearest; every target gets one
  granularity_recipes.extrapolation_demo(c, AUX_CLASSES, variant)
  return config_lib.config_arg(c, extra, "small_cnn")
