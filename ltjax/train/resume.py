"""What a checkpoint says about the run that wrote it, and the checks before resuming it.

Every checkpoint stores its data position (step, epoch, sampler setup) and the fingerprint of
the result-affecting config (`config.result_fingerprint`). A checkpoint resumes only the same
sample stream under the same config; a changed config is refused unless
`train.allow_config_change`, and an accepted change is recorded in `config_changes.json`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging
import jax

from ltjax import config as config_lib
from ltjax.data import samplers
from ltjax.runs import results as results_lib

_CHANGES_FILE = "config_changes.json"


def data_position(step: int, sampler: samplers.IndexSampler, config,
                  splits=None) -> dict[str, Any]:
  """The JSON stored beside the state in every checkpoint (with `splits`, a
  `DatasetSplits`: what data it was trained on)."""
  auxiliary = None if splits is None else splits.auxiliary
  epoch, batch = sampler.position(step)
  position = {"step": int(step), "epoch": epoch, "batch_in_epoch": batch,
              "steps_per_epoch": sampler.steps_per_epoch, "sampler": config.sampler,
              "seed": config.seed, "train_size": int(len(sampler.labels)),
              "pool_size": int(sampler.pool_size),
              # what the checkpoint was trained under, checked when it is resumed
              "config": config_lib.result_fingerprint(config)}
  if splits is not None:  # the data's content, not only its sizes
    position["data_hash"] = splits.content_hash()
  if auxiliary:  # the checkpoint says what auxiliary data it was trained with
    position["aux_classes"] = auxiliary["num_classes"]
    position["aux_images_per_epoch"] = auxiliary["images_per_epoch"]
  return position


def check_position(saved: dict[str, Any], expected: dict[str, Any], workdir: str) -> None:
  """A checkpoint only resumes the same sample stream if the data setup is unchanged."""
  for key in ("steps_per_epoch", "sampler", "seed", "train_size", "pool_size",
              "aux_classes", "aux_images_per_epoch", "data_hash"):
    if key not in expected and key not in saved:
      continue
    if key == "pool_size" and key not in saved:
      continue  # written by ltjax before the per-epoch pool existed
    if key == "data_hash" and key not in saved:
      continue  # written by ltjax before checkpoints stored the data's hash
    if key == "data_hash" and saved[key] != expected.get(key):
      raise ValueError(
          f"the checkpoint in {workdir} was trained on other data than this config loads "
          f"(content hash {saved[key]} there, {expected.get(key)} here; same sizes or not): "
          "resume it with its original dataset files (dataset.data_dir) or use a fresh "
          "--workdir")
    if saved.get(key) != expected.get(key):
      raise ValueError(
          f"the checkpoint in {workdir} was written with {key}={saved.get(key)!r}, but this "
          f"config gives {expected.get(key)!r}; resume with the original config or use a fresh "
          "--workdir")


def check_config(saved: dict[str, Any], config, workdir: str) -> dict[str, Any]:
  """Refuses a checkpoint written under another result-affecting config (naming the keys),
  unless train.allow_config_change; returns the accepted changes ({} when none)."""
  if "config" not in saved:
    logging.warning("the checkpoint in %s predates config fingerprints: its config cannot be "
                    "checked against this one", workdir)
    return {}
  changes = config_lib.fingerprint_changes(saved["config"],
                                           config_lib.result_fingerprint(config))
  if not changes:
    return {}
  listed = ", ".join(f"{k}: {v['old']!r} -> {v['new']!r}" for k, v in changes.items())
  if not config.train.allow_config_change:
    raise ValueError(
        f"the checkpoint in {workdir} was trained under another config ({listed}); rerun with "
        "the original values, use a fresh --workdir, or pass "
        "--config.train.allow_config_change=True to continue under the new values (recorded "
        "in results.json)")
  logging.warning("continuing the checkpoint in %s under a changed config: %s", workdir, listed)
  return changes


def change_history(workdir: str) -> list:
  """The accepted config changes of this workdir, oldest first."""
  path = os.path.join(workdir, _CHANGES_FILE)
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    return json.load(f)["history"]


def record_change(workdir: str, step: int, changes: dict[str, Any]) -> list:
  """Appends an accepted change to <workdir>/config_changes.json; returns the whole history."""
  history = change_history(workdir)
  history.append({"resumed_at_step": int(step), "changes": changes})
  if jax.process_index() == 0:
    results_lib.write_json_atomically(os.path.join(workdir, _CHANGES_FILE),
                                      {"history": history})
  return history


def finished_results(config, workdir: str) -> dict[str, Any] | None:
  """results.json of a finished run of this same experiment in `workdir`, else None: its
  identity (`config.run_identity`) and data directory equal, and its feature cache written when
  this config asks for one. None sends the caller down the resume path, whose checks refuse a
  changed config or other data, or which completes a missing cache."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
  except ValueError:
    return None  # damaged: the resume path rewrites it
  old = saved.get("config") or {}
  if config_lib.run_identity(old) != config_lib.run_identity(config):
    return None
  if (old.get("dataset") or {}).get("data_dir") != config.dataset.data_dir:
    return None
  if config.train.cache_features and not os.path.exists(
      os.path.join(workdir, "features", "meta.json")):
    return None
  return saved
