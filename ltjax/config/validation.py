"""`validate(config)`: every bad value named with its fix, before any data is loaded.

First every key against the rule declared next to its default (`defaults.declared_keys`,
`ltjax.core.rules`: type, range, choices; names are checked against the registries that
define them: models, objectives, samplers, stages). Then the relations between keys: the
shared sections' here, each registered method room's (`plugins.Section.validate`) and each
objective's (`losses.Objective.check`).
"""

from __future__ import annotations

import dataclasses

import ml_collections

from ltjax import losses
from ltjax import models
from ltjax.config import keys as config_keys
from ltjax.config.defaults import EXECUTIONS  # pylint: disable=unused-import  (a public name)
from ltjax.config.defaults import key_rules
from ltjax.config.defaults import stage_names  # pylint: disable=unused-import  (a public name)
from ltjax.config.defaults import TRAIN_STAGE  # pylint: disable=unused-import  (a public name)
from ltjax.core import plugins


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key and the fix for an invalid config value."""
  _validate_sections(config)
  _validate_loss_keys(config)
  _validate_each_key(config)
  _validate_models(config)
  _validate_schedule(config)
  _validate_soft_targets(config)
  _validate_population(config)
  for section in plugins.sections():
    if section.validate is not None:
      section.validate(config)
  if config.dataset.source == "image_folder" and not config.dataset.train_list:
    raise ValueError("dataset.source='image_folder' needs config.dataset.train_list (and "
                     "val_list / test_list) pointing at `relative/path label` list files")


def _validate_sections(config: ml_collections.ConfigDict) -> None:
  for section in plugins.sections():
    if section.name not in config:
      raise ValueError(f"config has no section {section.name!r}, which the registered method "
                       "rooms expect: build the config with ltjax.config.default_config()")


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


def _validate_each_key(config: ml_collections.ConfigDict) -> None:
  """Each declared key against its own rule."""
  for key, rule in key_rules().items():
    try:
      value = config_keys.get_key(config, key)
    except ValueError:
      raise ValueError(f"config has no key {key!r}: build the config with "
                       "ltjax.config.default_config() (a recipe) and override it") from None
    rule.check(value, key)


def _validate_models(config: ml_collections.ConfigDict) -> None:
  """The model against the loss that trains it."""
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
  if config.model.drop_path > 0 and not models.has_field(config.model.name, "drop_path"):
    raise ValueError(f"model.drop_path={config.model.drop_path}: model "
                     f"{config.model.name!r} has no stochastic depth; set it 0 or use one of "
                     f"{models.models_with_field('drop_path')}")
  check = losses.OBJECTIVES[config.loss.name].check
  if check is not None:
    check(config)


def _validate_schedule(config: ml_collections.ConfigDict) -> None:
  oc = config.optimizer
  if oc.head_warmup_epochs and not (oc.head_warmup_epochs <= oc.warmup_epochs
                                    and oc.head_warmup_epochs < config.train.num_epochs):
    raise ValueError(f"config.optimizer.head_warmup_epochs={oc.head_warmup_epochs} must be at "
                     f"most optimizer.warmup_epochs={oc.warmup_epochs} and below "
                     f"train.num_epochs={config.train.num_epochs}: the head-only epochs are "
                     "the start of the warm-up")
  if oc.min_lr and oc.schedule != "cosine":
    raise ValueError(f"config.optimizer.min_lr={oc.min_lr} is the end of the cosine schedule; "
                     f"schedule={oc.schedule!r} does not read it (set it 0 or use 'cosine')")
  if len(config.optimizer.decay_epochs) != len(config.optimizer.decay_factors):
    raise ValueError("config.optimizer.decay_epochs and decay_factors must have equal length, "
                     f"got {tuple(config.optimizer.decay_epochs)} and "
                     f"{tuple(config.optimizer.decay_factors)}")


def _validate_soft_targets(config: ml_collections.ConfigDict) -> None:
  a = config.augment
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
  if (tuple(p.seeds) or p.sweep.strip()) and config.stage != "train":
    raise ValueError(f"population training is a training-stage feature; config.stage="
                     f"{config.stage!r} reads one finished run (point it at a member, "
                     "<workdir>/members/<name>)")
