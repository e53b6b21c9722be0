"""Loading a finished run as a frozen distillation teacher (RIDE's distill variant)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from ltjax.runs import finished

_ROLE = "distill.teacher_workdir"
_EXAMPLE = "configs/cifar100_lt/ride_teacher_e6.py"


def check_teacher(workdir: str) -> None:
  """Raises a clear error unless `workdir` is a finished run with a readable config (cheap:
  called before the student's data is loaded)."""
  finished.load(workdir, _ROLE, _EXAMPLE)


def _check_heads(params: Any, num_classes: int, workdir: str) -> None:
  """Every classifier output of the teacher (leaves of a module named "head*" ending in
  num_classes) must have `num_classes` outputs: a teacher of other classes is refused."""
  sizes = set()
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    names = [str(getattr(p, "key", p)) for p in path]
    if any(n.startswith("head") for n in names) and names[-1] in ("kernel", "bias"):
      sizes.add(int(leaf.shape[-1]))
  if sizes and sizes != {num_classes}:
    raise ValueError(f"{_ROLE}={workdir!r} was trained with {sorted(sizes)} "
                     f"classifier outputs but the student has {num_classes} classes: the "
                     "teacher must be trained on the student's dataset and classes")


def load_teacher(workdir: str, num_classes: int,
                 sharding: jax.sharding.Sharding) -> tuple[nn.Module, dict[str, Any]]:
  """(teacher module, {"params", "batch_stats"} placed with `sharding`) of a finished run.

  The module is rebuilt from the teacher's own config.json, so a 6-expert RIDE teacher can
  teach a 3-expert student.
  """
  run = finished.load(workdir, _ROLE, _EXAMPLE)
  teacher = run.model(num_classes)
  state = run.restore()
  _check_heads(state["params"], num_classes, workdir)
  variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
  return teacher, jax.device_put(variables, sharding)
