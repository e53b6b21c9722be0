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


def load_teacher(workdir: str, num_classes: int,
                 sharding: jax.sharding.Sharding) -> tuple[nn.Module, dict[str, Any]]:
  """(teacher module, {"params", "batch_stats"} placed with `sharding`) of a finished run.

  The module is rebuilt from the teacher's own config.json, so a 6-expert RIDE teacher can
  teach a 3-expert student.
  """
  config_path = os.path.join(workdir, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{config_path} not found: distill.teacher_workdir must be the "
                            "workdir of a finished ltjax training run")
  with open(config_path, encoding="utf-8") as f:
    teacher_config = ml_collections.ConfigDict(json.load(f))
  teacher = models.build_model(teacher_config.model.name, num_classes,
                               **models.config_kwargs(teacher_config.model))
  state = ocp.StandardCheckpointer().restore(_selected_checkpoint(workdir))
  variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
  return teacher, jax.device_put(variables, sharding)
