"""The resume fingerprint: the config values that can change a training run's result."""

from __future__ import annotations

import json
from typing import Any

import ml_collections

from ltjax.core import plugins

# Keys that cannot change a run's numbers: how often it logs or how it feeds the same batches
# (the device / host / scanned paths give identical batches, tests/train/test_trainer.py), where files
# live, fault injection. Every other key of the sections the trainer reads is part of the
# resume fingerprint.
NON_RESULT_KEYS = (
    "dataset.data_dir", "train.log_every_steps", "train.eval_batch_size",
    "train.checkpoint_every_epochs", "train.keep_checkpoints", "train.cache_features",
    "train.data_on_device", "train.device_data_max_megabytes", "train.steps_per_dispatch",
    "train.loader_workers", "train.allow_config_change", "debug.kill_at_step",
    "debug.kill_during_save_at_step", "debug.smoke", "population.execution",
    "population.member_devices",
)


def non_result_keys() -> tuple[str, ...]:
  """NON_RESULT_KEYS and the registered rooms' own (`MethodRecord.non_result_keys`)."""
  return NON_RESULT_KEYS + tuple(k for r in plugins.records() for k in r.non_result_keys)


def _other_stage_sections() -> tuple[str, ...]:
  """Top-level keys the training stage never reads: `stage` and the later stages' sections
  (`plugins.Section.stage_only`)."""
  return ("stage", *(s.name for s in plugins.sections() if s.stage_only))


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      out.update(_flatten(value, name + "."))
    else:
      out[name] = value
  return out


def result_fingerprint(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """{dotted key: value} of every config value that can change a training run's result, in
  JSON form (tuples as lists), stored with each checkpoint."""
  flat = _flatten(json.loads(json.dumps(config.to_dict())))
  skip_keys, skip_sections = set(non_result_keys()), _other_stage_sections()
  return {k: v for k, v in sorted(flat.items())
          if k not in skip_keys and k.split(".")[0] not in skip_sections}


def run_identity(config) -> dict[str, Any]:
  """{dotted key: value} of everything that can change a finished run's numbers, whatever
  its stage (that stage's own section included): the whole config (a ConfigDict or its dict)
  except NON_RESULT_KEYS, other stages' sections, the population section (a member's seed is
  `seed`) and the keys that name another run (`MethodRecord.run_inputs`: where that run
  lives, not what it is).
  Two runs with equal identities are the same experiment; `ltjax.reproduce` compares them
  before it reuses a finished run."""
  tree = config.to_dict() if hasattr(config, "to_dict") else config
  flat = _flatten(json.loads(json.dumps(tree)))
  skip = set(non_result_keys()) | {i.key for r in plugins.records() for i in r.run_inputs}
  stage = tree.get("stage", "train")
  # Later stages' sections are part of the identity of their own stage's runs only.
  other_stages = {s.name for r in plugins.records() if stage not in r.stages
                  for s in r.sections if s.stage_only}
  return {k: v for k, v in sorted(flat.items())
          if k not in skip and k.split(".")[0] not in other_stages | {"population"}}


def fingerprint_changes(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, dict]:
  """{key: {"old": saved value, "new": current value}} for every key that differs (a key that
  exists on one side only has None on the other)."""
  return {k: {"old": saved.get(k), "new": current.get(k)}
          for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)}
