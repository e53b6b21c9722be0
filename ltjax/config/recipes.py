"""Dataset recipes every method starts from: the LDAM-DRW CIFAR-LT recipe and the embedded
digits-LT default. Method recipes live in their rooms (`ltjax.ride.recipes`, ...)."""

from __future__ import annotations

import ml_collections

from ltjax.config.defaults import default_config


def cifar_lt_recipe(name: str) -> ml_collections.ConfigDict:
  """The LDAM-DRW CIFAR-LT recipe (protocol.md) for "cifar10_lt" or "cifar100_lt", IF 100:
  ResNet-32, 200 epochs, batch 128, SGD momentum 0.9, lr 0.1 with a 5-epoch per-epoch warm-up,
  x0.01 from epoch 160 and x0.0001 from 180, weight decay 2e-4, pad-4 crop + flip."""
  c = default_config()
  c.dataset.name = name
  c.dataset.source = "files"  # or "tfds" (a prepared TFDS cifar10 / cifar100)
  c.dataset.imbalance_factor = 100.0
  c.dataset.val_per_class = 100 if name == "cifar10_lt" else 20
  c.model.name = "cifar_resnet32"
  return c


def digits_lt_recipe() -> ml_collections.ConfigDict:
  """The embedded default: digits-LT (IF 20), a small CNN, 60 epochs of cosine SGD; runs in
  well under a minute on 2 CPU cores."""
  c = default_config()
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
  c.loss.drw_epoch = 48  # 80% of training, as 160 of 200 in the CIFAR recipe
  c.train.batch_size = 32
  c.train.num_epochs = 60
  c.train.log_every_steps = 50
  c.train.checkpoint_every_epochs = 5
  return c
