"""A finished run read back: its config, its results, its model and its selected weights.

One loader for every stage that builds on an earlier run (a distillation teacher, the image
filter of category extrapolation, the RIDE router's cost report), so each reports a missing,
unfinished or damaged run the same way.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import flax.linen as nn
import ml_collections
import orbax.checkpoint as ocp

from ltjax import models
from ltjax.config import keys as config_keys
from ltjax.core import plugins
from ltjax.core.checkpoint import CorruptCheckpointError


@dataclasses.dataclass(frozen=True)
class FinishedRun:
  """A training run that wrote its results.json.

  Attributes:
    workdir: its directory.
    role: the config key that named it (for messages), e.g. "distill.teacher_workdir".
    config: its resolved config (config.json).
    results: its results.json.
  """

  workdir: str
  role: str
  config: ml_collections.ConfigDict
  results: dict[str, Any]

  @property
  def num_classes(self) -> int:
    """The classes its model was trained on (targets and auxiliary classes)."""
    return len(self.results["class_counts"]) + (self.results.get("auxiliary") or {}).get(
        "num_classes", 0)

  def model(self, num_classes: int | None = None) -> nn.Module:
    """Its model rebuilt from its config (with `num_classes` outputs, default its own)."""
    return models.build_model(self.config.model.name, num_classes or self.num_classes,
                              **models.config_kwargs(self.config.model))

  def selected_checkpoint(self) -> str:
    """The state directory of the checkpoint its results report (`selected_step`: the
    val-best weights under train.select="best_val", the last under "last")."""
    return selected_checkpoint(self.workdir, self.results.get("selected_step"))

  def restore(self) -> dict[str, Any]:
    """The raw state ({"params", "batch_stats", ...}) of its selected checkpoint."""
    path = self.selected_checkpoint()
    try:
      with ocp.StandardCheckpointer() as checkpointer:  # closed even when restore fails
        return checkpointer.restore(path)
    except Exception as e:  # Orbax raises many types for unreadable files.
      detail = (str(e).strip().splitlines() or [""])[0][:300]  # TensorStore specs run long
      raise CorruptCheckpointError(
          f"cannot restore the checkpoint {path} of {self.role}={self.workdir!r}: if its "
          f"files are damaged, delete {os.path.dirname(path)} (the run then falls back to its "
          f"next checkpoint) or re-train it. Orbax said: {type(e).__name__}: {detail}") from e


def selected_checkpoint(workdir: str, selected_step: int | None = None) -> str:
  """The state directory of the checkpoint of `selected_step` (the step results.json
  reports), looked up in best/ then checkpoints/; without a step (an older results.json), the
  validation-selected checkpoint if there is one, else the latest."""
  if selected_step is not None:
    for sub in ("best", "checkpoints"):
      path = os.path.join(workdir, sub, str(int(selected_step)), "state")
      if os.path.isdir(path):
        return path
    raise FileNotFoundError(f"{workdir} reports selected_step {selected_step}, but neither "
                            f"{workdir}/best/{selected_step} nor {workdir}/checkpoints/"
                            f"{selected_step} exists: its weights are gone; re-train the run")
  for sub in ("best", "checkpoints"):
    directory = os.path.join(workdir, sub)
    steps = sorted(int(d) for d in os.listdir(directory) if d.isdigit()) \
        if os.path.isdir(directory) else []
    if steps:
      return os.path.join(directory, str(steps[-1]), "state")
  raise FileNotFoundError(f"no checkpoint under {workdir}/best or {workdir}/checkpoints: train "
                          "the run first (it must be a finished run)")


def refuse_own_input(config, workdir: str) -> None:
  """Raises ValueError when `workdir` is a run this config reads (a stage-1 run, its features, a
  teacher: the records' `run_inputs`): writing there would replace that run's files."""
  here = os.path.realpath(workdir)
  for record in plugins.records():
    for run_input in record.run_inputs:
      if run_input.stage not in (None, config.stage):
        continue
      value = config_keys.get_key(config, run_input.key)
      if value and os.path.realpath(value) == here:
        raise ValueError(f"--workdir {workdir!r} is the run this config reads "
                         f"({run_input.key}={value!r}): writing there would replace that "
                         "run's results; give this run its own --workdir")


def check_finished(workdir: str, role: str, example: str = "") -> None:
  """Raises FileNotFoundError unless `workdir` holds a finished training run."""
  if not os.path.isdir(workdir):
    hint = f" (e.g. {example})" if example else ""
    raise FileNotFoundError(f"{role}={workdir!r} does not exist ({os.path.abspath(workdir)}): "
                            f"train the run there first{hint} or point it at the workdir of a "
                            "finished ltjax training run")
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{config_path} not found: {role} must be the workdir of a "
                            "finished ltjax training run")
  if not os.path.exists(os.path.join(workdir, "results.json")):
    raise FileNotFoundError(f"{role}={workdir!r} is not a finished run (no "
                            f"{workdir}/results.json): re-run its training command with that "
                            "workdir to finish it (it resumes from its last checkpoint)")


def _read_json(path: str, role: str, workdir: str) -> dict[str, Any]:
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except ValueError as e:
    raise ValueError(f"cannot read the {role} run's {path} ({type(e).__name__}: {e}): the file "
                     f"is damaged; re-train the run ({role}={workdir!r}) or restore the "
                     "file") from e


def load(workdir: str, role: str, example: str = "") -> FinishedRun:
  """The finished run in `workdir`; clear errors when it is missing, unfinished or damaged."""
  check_finished(workdir, role, example)
  config = ml_collections.ConfigDict(
      _read_json(os.path.join(workdir, "config.json"), role, workdir))
  results = _read_json(os.path.join(workdir, "results.json"), role, workdir)
  return FinishedRun(workdir=workdir, role=role, config=config, results=results)
