"""Orbax checkpoints of the train state together with the data position.

Two managers share a workdir: `checkpoints/` keeps the latest few (periodic + final, for
resume) and `best/` keeps the one with the highest validation top-1 (for selection). Orbax
writes each checkpoint to a temporary directory and renames it when complete, so a run killed
mid-save leaves the previous checkpoint intact; saves are asynchronous.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
import orbax.checkpoint as ocp


class CorruptCheckpointError(RuntimeError):
  """A checkpoint exists but cannot be read."""


def _manager(directory: str, max_to_keep: int, best: bool) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep,
      best_fn=(lambda m: m["val_top1"]) if best else None,
      best_mode="max",
      create=True,
      enable_async_checkpointing=True,
      # Both managers may save the same step; in a multi-process run their barriers must not
      # share a name (Orbax keys them by step only).
      multiprocessing_options=ocp.options.MultiprocessingOptions(
          barrier_sync_key_prefix="best" if best else "latest"),
  )
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


class Checkpointer:
  """Saves / restores {state, data position} in `<workdir>/checkpoints` and `<workdir>/best`."""

  def __init__(self, workdir: str, keep: int = 2, latest: bool = True, best: bool = True):
    """`latest=False`: only the best-on-validation manager (a population member, whose resume
    checkpoint is the population's); `best=False`: only the latest (the population, whose
    members each keep their own best)."""
    self.latest = (_manager(os.path.join(workdir, "checkpoints"), keep, best=False) if latest
                   else None)
    self.best = _manager(os.path.join(workdir, "best"), 1, best=True) if best else None

  def _managers(self):
    return [m for m in (self.latest, self.best) if m is not None]

  def save(self, step: int, state: Any, data_position: dict[str, Any]) -> None:
    """Saves for resume (asynchronously)."""
    self.latest.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_position)))

  def save_if_best(self, step: int, state: Any, val_top1: float) -> None:
    """Offers the state to the best-on-validation manager (kept only if it is the best)."""
    self.best.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave({"val_top1": val_top1})),
                   metrics={"val_top1": float(val_top1)})

  def _restore(self, manager, step, abstract_state):
    try:
      restored = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
    except Exception as e:  # Orbax raises many types for unreadable or mismatched files.
      path = os.path.join(str(manager.directory), str(step))
      raise CorruptCheckpointError(
          f"cannot restore the checkpoint {path}: {type(e).__name__}: {e}\nIf the files are "
          "damaged, delete that step directory to resume from the previous checkpoint; if the "
          "config changed the model, use a fresh --workdir.") from e
    return restored["state"], dict(restored["data"])

  def restore_latest(self, abstract_state: Any) -> tuple[Any, dict[str, Any]] | None:
    """(state, data position) of the latest checkpoint, or None when there is none."""
    step = self.latest.latest_step()
    if step is None:
      return None
    logging.info("resuming from %s/%d", self.latest.directory, step)
    return self._restore(self.latest, step, abstract_state)

  def latest_position(self) -> dict[str, Any] | None:
    """The data position stored with the latest checkpoint (its state left unread), or None:
    what it holds can be checked before its arrays must fit."""
    step = self.latest.latest_step()
    if step is None:
      return None
    try:
      restored = self.latest.restore(step, args=ocp.args.Composite(data=ocp.args.JsonRestore()))
    except Exception as e:  # Orbax raises many types for unreadable files.
      path = os.path.join(str(self.latest.directory), str(step))
      raise CorruptCheckpointError(
          f"cannot read the data position of checkpoint {path}: {type(e).__name__}: {e}\nIf "
          "the files are damaged, delete that step directory to resume from the previous "
          "checkpoint.") from e
    return dict(restored["data"])

  def restore_best(self, abstract_state: Any) -> tuple[int, Any] | None:
    """(step, state) of the best-on-validation checkpoint, or None."""
    step = self.best.best_step()
    if step is None:
      return None
    return step, self._restore(self.best, step, abstract_state)[0]

  def wait(self) -> None:
    for manager in self._managers():
      manager.wait_until_finished()

  def close(self) -> None:
    for manager in self._managers():
      manager.close()
