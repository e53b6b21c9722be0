"""A config file's `:arg`: `smoke` shrinks data, model and epochs so a run takes seconds."""

from __future__ import annotations

import ml_collections

from ltjax import models
from ltjax.core import plugins


def config_arg(c: ml_collections.ConfigDict, arg: str | None,
               smoke_model: str) -> ml_collections.ConfigDict:
  """Applies a config file's `:arg` ("smoke" or nothing)."""
  if arg == "smoke":
    shrink_for_smoke(c, smoke_model)
    if c.dataset.name == "digits_lt":
      c.dataset.eval_per_class_limit = 0  # digits eval is tiny already
    if models.is_multi_expert(c.model.name):
      c.model.name = "ride_resnet_tiny" if "resnet" in c.model.name or "resnext" in \
          c.model.name else "ride_cifar_tiny"
    if c.dataset.source == "image_folder":
      c.dataset.image_size, c.dataset.train_image_size = 32, 40
    c.model.pretrained = ""  # smoke models are tiny: no pretrained backbone fits them
  elif arg:
    raise ValueError(f"unknown config argument {arg!r}; use 'smoke' or nothing")
  return c


def shrink_for_smoke(c: ml_collections.ConfigDict, model_name: str) -> ml_collections.ConfigDict:
  """Shrinks a config so the whole run takes seconds on CPU (same code paths, tiny sizes)."""
  c.debug.smoke = True
  c.model.name = model_name
  c.train.num_epochs = 2
  c.train.steps_per_epoch_limit = 3
  c.train.batch_size = 16
  c.train.eval_batch_size = 64
  c.train.log_every_steps = 1
  c.train.checkpoint_every_epochs = 1
  c.optimizer.warmup_epochs = 1
  c.optimizer.decay_epochs = (1,)
  c.optimizer.decay_factors = (0.1,)
  c.dataset.eval_per_class_limit = 3
  c.loss.drw_epoch = 1  # so DRW switches on within the smoke run
  for section in plugins.sections():
    if section.smoke is not None:
      section.smoke(c)
  return c
