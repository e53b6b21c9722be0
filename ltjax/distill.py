"""Loading a finished run as a frozen distillation teacher (RIDE's distill variant)."""

from __future__ import annotations

import json
import os
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import orbax.checkpoint as ocp

from ltjax import models
from ltjax.checkpoint import CorruptCheckpointError


def _selected_checkpoint(workdir: str) -> str:
  """The teacher's validation-selected checkpoint if it has one, else its latest."""
  for sub in ("best", "checkpoints"):
    directory = os.path.join(workdir, sub)
    steps = sorted(int(d) for d in os.listdir(directory) if d.isdigit()) \
        if os.path.isdir(directory) else []
    if steps:
      return os.path.join(directory, str(steps[-1]), "state")
  raise FileNotFoundError(f"no checkpoint under {workdir}/best or {workdir}/checkpoints: train "
                          "the teacher first (distill.teacher_workdir must be a finished run)")


def _check_finished(workdir: str) -> None:
  """Raises FileNotFoundError unless `workdir` holds a finished training run."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"distill.teacher_workdir={workdir!r} does not exist "
                            f"({os.path.abspath(workdir)}): train the teacher there first "
                            "(e.g. configs/cifar100_lt/ride_teacher_e6.py) or point it at the "
                            "workdir of a finished ltjax training run")
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{config_path} not found: distill.teacher_workdir must be the "
                            "workdir of a finished ltjax training run")
  if not os.path.exists(os.path.join(workdir, "results.json")):
    raise FileNotFoundError(f"distill.teacher_workdir={workdir!r} is not a finished run (no "
                            f"{workdir}/results.json): re-run the teacher's training command "
                            "with that workdir to finish it (it resumes from its last "
                            "checkpoint)")


def _teacher_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  try:
    with open(path, encoding="utf-8") as f:
      return ml_collections.ConfigDict(json.load(f))
  except ValueError as e:
    raise ValueError(f"cannot read the teacher's {path} ({type(e).__name__}: {e}): the "
                     f"file is damaged; re-train the teacher (distill.teacher_workdir="
                     f"{workdir!r}) or restore the file") from e


def _restore(workdir: str) -> dict[str, Any]:
  """The raw state of the teacher's selected checkpoint."""
  path = _selected_checkpoint(workdir)
  try:
    with ocp.StandardCheckpointer() as checkpointer:  # closed even when restore fails
      return checkpointer.restore(path)
  except Exception as e:  # Orbax raises many types for unreadable files.
    detail = (str(e).strip().splitlines() or [""])[0][:300]  # TensorStore specs run long
    raise CorruptCheckpointError(
        f"cannot restore the checkpoint {path} of distill.teacher_workdir={workdir!r}: if its "
        f"files are damaged, delete {os.path.dirname(path)} (the teacher then falls back to its "
        f"next checkpoint) or re-train the teacher. Orbax said: {type(e).__name__}: "
        f"{detail}") from e


def check_teacher(workdir: str) -> None:
  """Raises a clear error unless `workdir` is a finished run with a readable config (cheap:
  called before the student's data is loaded)."""
  _check_finished(workdir)
  _teacher_config(workdir)


def _check_heads(params: Any, num_classes: int, workdir: str) -> None:
  """Every classifier output of the teacher (leaves of a module named "head*" ending in
  num_classes) must have `num_classes` outputs: a teacher of other classes is refused."""
  sizes = set()
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    names = [str(getattr(p, "key", p)) for p in path]
    if any(n.startswith("head") for n in names) and names[-1] in ("kernel", "bias"):
      sizes.add(int(leaf.shape[-1]))
  if sizes and sizes != {num_classes}:
    raise ValueError(f"distill.teacher_workdir={workdir!r} was trained with {sorted(sizes)} "
                     f"classifier outputs but the student has {num_classes} classes: the "
                     "teacher must be trained on the student's dataset and classes")


def load_teacher(workdir: str, num_classes: int,
                 sharding: jax.sharding.Sharding) -> tuple[nn.Module, dict[str, Any]]:
  """(teacher module, {"params", "batch_stats"} placed with `sharding`) of a finished run.

  The module is rebuilt from the teacher's own config.json, so a 6-expert RIDE teacher can
  teach a 3-expert student.
  """
  _check_finished(workdir)
  teacher_config = _teacher_config(workdir)
  teacher = models.build_model(teacher_config.model.name, num_classes,
                               **models.config_kwargs(teacher_config.model))
  state = _restore(workdir)
  _check_heads(state["params"], num_classes, workdir)
  variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
  return teacher, jax.device_put(variables, sharding)
