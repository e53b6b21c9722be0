"""`validate(config)`: every bad value named with its fix, before any data is loaded.

Names are checked against the registries that define them (models, objectives, samplers,
decoupled methods); each method's section is checked by its room's `config.validate`.
"""

from __future__ import annotations

import math

import ml_collections

from ltjax import losses
from ltjax import models
from ltjax.config import checks
from ltjax.config.defaults import DATASETS
from ltjax.config.defaults import SOURCES
from ltjax.data import samplers
from ltjax.decoupled import config as decoupled_config
from ltjax.dlsa import config as dlsa_config
from ltjax.granularity import config as granularity_config


def _validate_names(config: ml_collections.ConfigDict) -> None:
  """Names checked against the registries that define them, before any data is loaded."""
  checks.choice(config.model.name, sorted(models.MODELS), "model.name")
  checks.choice(config.loss.name, sorted(losses.OBJECTIVES), "loss.name")
  checks.choice(config.sampler, sorted(samplers.SAMPLER_POWERS), "sampler")
  multi_expert = models.is_multi_expert(config.model.name)
  if losses.OBJECTIVES[config.loss.name].multi_expert and not multi_expert:
    raise ValueError(f"loss.name={config.loss.name!r} trains each expert of a multi-expert "
                     f"model, but model.name={config.model.name!r} has one head; use a "
                     f"multi-expert model ({', '.join(models.multi_expert_names())}) or "
                     "another loss")
  if config.model.normed_classifier and not models.has_field(config.model.name,
                                                             "normed_classifier"):
    raise ValueError(f"model.normed_classifier=True: model {config.model.name!r} has no "
                     "cosine classifier; set it False or use one of "
                     f"{models.models_with_field('normed_classifier')}")
  if config.loss.name == "ldam" and not config.model.normed_classifier:
    raise ValueError("loss.name='ldam' scales cosine logits by loss.ldam_scale, so it needs "
                     "LDAM's normalised classifier: set model.normed_classifier=True")


def _validate_numbers(config: ml_collections.ConfigDict) -> None:
  """Numbers that would give a meaningless run rather than an error."""
  o = config.optimizer
  checks.positive(o.learning_rate, "optimizer.learning_rate")
  checks.positive(o.weight_decay, "optimizer.weight_decay", allow_zero=True)
  checks.positive(o.warmup_epochs, "optimizer.warmup_epochs", allow_zero=True)
  if not 0 <= o.momentum < 1:
    raise ValueError(f"config.optimizer.momentum must lie in [0, 1), got {o.momentum}")
  if list(o.decay_epochs) != sorted(o.decay_epochs):
    raise ValueError(f"config.optimizer.decay_epochs must increase, got {o.decay_epochs}")
  for f in o.decay_factors:
    checks.positive(f, "optimizer.decay_factors")
  lc = config.loss
  checks.positive(lc.focal_gamma, "loss.focal_gamma", allow_zero=True)
  checks.positive(lc.ldam_max_margin, "loss.ldam_max_margin")
  checks.positive(lc.ldam_scale, "loss.ldam_scale")
  checks.positive(lc.drw_epoch, "loss.drw_epoch", allow_zero=True)
  if not 0 <= lc.cb_beta < 1:
    raise ValueError(f"config.loss.cb_beta must lie in [0, 1), got {lc.cb_beta}")
  if not math.isfinite(lc.la_tau):
    raise ValueError(f"config.loss.la_tau must be finite, got {lc.la_tau}")
  checks.positive(config.dataset.val_per_class, "dataset.val_per_class", allow_zero=True)


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key and the fix for an invalid config value."""
  _validate_names(config)
  _validate_numbers(config)
  checks.choice(config.dataset.name, DATASETS, "dataset.name")
  checks.choice(config.dataset.source, SOURCES, "dataset.source")
  checks.choice(config.dataset.profile, ("exp", "step"), "dataset.profile")
  checks.choice(config.dataset.val_mode, ("unused", "reserve", "none"), "dataset.val_mode")
  checks.choice(config.optimizer.schedule, ("multistep", "cosine", "constant"),
                "optimizer.schedule")
  checks.choice(config.augment.kind, ("pad_crop_flip", "random_resized_crop"), "augment.kind")
  checks.choice(config.train.select, ("best_val", "last"), "train.select")
  checks.choice(config.train.data_on_device, ("auto", "on", "off"), "train.data_on_device")
  checks.choice(config.model.dtype, ("float32", "bfloat16"), "model.dtype")
  if not 0 <= config.augment.rotation_degrees <= 180:
    raise ValueError("config.augment.rotation_degrees must lie in [0, 180], got "
                     f"{config.augment.rotation_degrees}")
  if config.dataset.exclude_classes and config.aux.source == "dataset_classes":
    raise ValueError("set either dataset.exclude_classes or aux.classes with "
                     "aux.source='dataset_classes', not both")
  if config.dataset.imbalance_factor < 1:
    raise ValueError("config.dataset.imbalance_factor must be >= 1 (n_max / n_min), got "
                     f"{config.dataset.imbalance_factor}")
  if len(config.optimizer.decay_epochs) != len(config.optimizer.decay_factors):
    raise ValueError("config.optimizer.decay_epochs and decay_factors must have equal length")
  for key in ("batch_size", "num_epochs", "eval_batch_size", "checkpoint_every_epochs",
              "eval_every_epochs", "log_every_steps", "steps_per_dispatch"):
    if config.train[key] <= 0:
      raise ValueError(f"config.train.{key} must be positive, got {config.train[key]}")
  checks.choice(config.stage, ("train", "decoupled", "dlsa"), "stage")
  checks.choice(config.optimizer.name, ("sgd", "adamw"), "optimizer.name")
  if not 0 < config.optimizer.layer_decay <= 1:
    raise ValueError("config.optimizer.layer_decay must lie in (0, 1] (1 = off), got "
                     f"{config.optimizer.layer_decay}")
  if config.augment.randaugment_ops < 0 or not 0 <= config.augment.randaugment_magnitude <= 10:
    raise ValueError("config.augment.randaugment_ops must be >= 0 and randaugment_magnitude "
                     "in [0, 10] (timm's levels)")
  _validate_soft_targets(config)
  _validate_population(config)
  granularity_config.validate(config)
  decoupled_config.validate(config)
  dlsa_config.validate(config)
  checks.choice(config.loss.reweight, losses.REWEIGHTS, "loss.reweight")
  if config.dataset.source == "image_folder" and not config.dataset.train_list:
    raise ValueError("dataset.source='image_folder' needs config.dataset.train_list (and "
                     "val_list / test_list) pointing at `relative/path label` list files")


# The losses that take soft targets (read from the objectives' registry).
SOFT_TARGET_LOSSES = tuple(n for n, o in losses.OBJECTIVES.items() if o.soft_targets)


def _validate_soft_targets(config: ml_collections.ConfigDict) -> None:
  a = config.augment
  if min(a.mixup_alpha, a.cutmix_alpha, a.label_smoothing) < 0 or a.label_smoothing >= 1:
    raise ValueError("config.augment.mixup_alpha / cutmix_alpha must be >= 0 and "
                     "label_smoothing in [0, 1)")
  mixing = a.mixup_alpha > 0 or a.cutmix_alpha > 0 or a.label_smoothing > 0
  soft = [n for n, o in losses.OBJECTIVES.items() if o.soft_targets]
  if mixing and config.loss.name not in soft:
    raise ValueError(f"mixup / cutmix / label smoothing give soft targets, which loss "
                     f"{config.loss.name!r} does not take; use one of {soft} or "
                     "turn them off")
  if mixing and config.loss.reweight != "none":
    raise ValueError("loss.reweight weights examples by their hard label; it cannot be "
                     "combined with mixup / cutmix / label smoothing")


def _validate_population(config: ml_collections.ConfigDict) -> None:
  p = config.population
  checks.choice(p.execution, ("auto", "vmap", "loop"), "population.execution")
  if p.member_devices < 1:
    raise ValueError(f"config.population.member_devices must be >= 1, got {p.member_devices}")
  if any(not isinstance(s, int) or isinstance(s, bool) for s in tuple(p.seeds)):
    raise ValueError(f"config.population.seeds must be integers, got {tuple(p.seeds)} "
                     "(--config.population.seeds=0,1,2)")
  if (tuple(p.seeds) or p.sweep.strip()) and config.stage != "train":
    raise ValueError(f"population training is a training-stage feature; config.stage="
                     f"{config.stage!r} reads one finished run (point it at a member, "
                     "<workdir>/members/<name>)")
