"""`validate(config)`: every bad value named with its fix, before any data is loaded.

Names are checked against the registries that define them (models, objectives, samplers,
stages); each registered method room checks its own sections (`plugins.Section.validate`) and
each objective its combinations (`losses.Objective.check`).
"""

from __future__ import annotations

import math

import ml_collections

import dataclasses

from ltjax import losses
from ltjax import models
from ltjax.config import checks
from ltjax.config.defaults import DATASETS
from ltjax.config.defaults import SOURCES
from ltjax.core import plugins
from ltjax.data import samplers

# How a population's members run inside the step (`ltjax.train.population`).
EXECUTIONS = ("auto", "vmap", "loop")
# The stage the framework runs itself; every other `config.stage` is a registered room's.
TRAIN_STAGE = "train"


def stage_names() -> list[str]:
  """Every valid `config.stage`: "train" and the registered rooms' stages."""
  return [TRAIN_STAGE, *(s for r in plugins.records() for s in r.stages)]


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
  check = losses.OBJECTIVES[config.loss.name].check
  if check is not None:
    check(config)


def _validate_loss_keys(config: ml_collections.ConfigDict) -> None:
  """Every key of `config.loss` is declared (LossSpec or a room's loss settings): a key that
  nothing reads would otherwise be dropped without a word."""
  declared = {f.name for f in dataclasses.fields(losses.LossSpec)}
  for record in plugins.records():
    for settings in record.loss_settings:
      declared.update(f.name for f in dataclasses.fields(settings))
  unknown = sorted(set(config.loss.keys()) - declared)
  if unknown:
    raise ValueError(f"config.loss has key(s) {unknown} that no objective reads: declare them "
                     "in a method room's loss settings (plugins.MethodRecord.loss_settings) "
                     "or remove them")


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
  _validate_loss_keys(config)
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
  if config.dataset.imbalance_factor < 1:
    raise ValueError("config.dataset.imbalance_factor must be >= 1 (n_max / n_min), got "
                     f"{config.dataset.imbalance_factor}")
  if len(config.optimizer.decay_epochs) != len(config.optimizer.decay_factors):
    raise ValueError("config.optimizer.decay_epochs and decay_factors must have equal length")
  for key in ("batch_size", "num_epochs", "eval_batch_size", "checkpoint_every_epochs",
              "eval_every_epochs", "log_every_steps", "steps_per_dispatch"):
    if config.train[key] <= 0:
      raise ValueError(f"config.train.{key} must be positive, got {config.train[key]}")
  checks.choice(config.stage, stage_names(), "stage")
  checks.choice(config.optimizer.name, ("sgd", "adamw"), "optimizer.name")
  if not 0 < config.optimizer.layer_decay <= 1:
    raise ValueError("config.optimizer.layer_decay must lie in (0, 1] (1 = off), got "
                     f"{config.optimizer.layer_decay}")
  if config.augment.randaugment_ops < 0 or not 0 <= config.augment.randaugment_magnitude <= 10:
    raise ValueError("config.augment.randaugment_ops must be >= 0 and randaugment_magnitude "
                     "in [0, 10] (timm's levels)")
  _validate_soft_targets(config)
  _validate_population(config)
  for section in plugins.sections():
    if section.name not in config:
      raise ValueError(f"config has no section {section.name!r}, which the registered method "
                       "rooms expect: build the config with ltjax.config.default_config()")
    if section.validate is not None:
      section.validate(config)
  checks.choice(config.loss.reweight, losses.REWEIGHTS, "loss.reweight")
  if config.dataset.source == "image_folder" and not config.dataset.train_list:
    raise ValueError("dataset.source='image_folder' needs config.dataset.train_list (and "
                     "val_list / test_list) pointing at `relative/path label` list files")


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
  checks.choice(p.execution, EXECUTIONS, "population.execution")
  if p.member_devices < 1:
    raise ValueError(f"config.population.member_devices must be >= 1, got {p.member_devices}")
  if any(not isinstance(s, int) or isinstance(s, bool) for s in tuple(p.seeds)):
    raise ValueError(f"config.population.seeds must be integers, got {tuple(p.seeds)} "
                     "(--config.population.seeds=0,1,2)")
  if (tuple(p.seeds) or p.sweep.strip()) and config.stage != "train":
    raise ValueError(f"population training is a training-stage feature; config.stage="
                     f"{config.stage!r} reads one finished run (point it at a member, "
                     "<workdir>/members/<name>)")
