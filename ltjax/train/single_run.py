"""One training run in the loop's terms: its start (resume or initialise), batch indices,
logged metrics, epoch end (validate, keep the best, checkpoint) and finish (select, test once,
write results). `train.population` gives a population the same interface."""

from __future__ import annotations

import functools
import os
import signal
from typing import Any

from absl import logging
import jax
import numpy as np

from ltjax.core import checkpoint
from ltjax.core import evaluate
from ltjax.core import metric_log
from ltjax.runs import results as results_lib
from ltjax.train import monitor
from ltjax.train import outputs
from ltjax.train import resume
from ltjax.train import setup as setup_lib


def restore_or_init(setup, ckpt, workdir):
  """(state, accepted config changes): the latest checkpoint after its checks, else a fresh
  initialisation."""
  saved = ckpt.latest_position()
  if saved is not None and "members" in saved:  # checked first: its arrays have other shapes
    raise ValueError(f"the checkpoint in {workdir} holds the population {saved['members']}; "
                     "resume it with its population.seeds / population.sweep or use a fresh "
                     "--workdir")
  restored = ckpt.restore_latest(setup.abstract_state)
  if restored is None:
    return setup_lib.initial_state(setup), []
  state, position = restored
  config = setup.config
  resume.check_position(position, resume.data_position(position["step"], setup.sampler, config,
                                                       setup.splits), workdir)
  changes = resume.check_config(position, config, workdir)
  history = (resume.record_change(workdir, position["step"], changes) if changes
             else resume.change_history(workdir))
  return state, history


def write_run_files(workdir: str, config, splits) -> None:
  """config.json (and auxiliary.json) at the start of a run."""
  if jax.process_index() == 0:
    results_lib.write_json_atomically(os.path.join(workdir, "config.json"), config.to_dict())
    if splits.auxiliary:
      results_lib.write_json_atomically(os.path.join(workdir, "auxiliary.json"),
                                        splits.auxiliary)


def maybe_kill_during_save(config, step: int) -> None:
  if step == config.debug.kill_during_save_at_step:
    os.kill(os.getpid(), signal.SIGKILL)  # fault injection: the write is in flight


class SingleRun:
  """A single run of `setup_lib.build`'s setup, writing into `workdir`."""

  index_axis = 0  # where the batch axis of the index arrays is

  def __init__(self, config, splits, mesh, workdir: str):
    self.config, self.workdir, self.mesh = config, workdir, mesh
    self.setup = setup = setup_lib.build(config, splits, mesh)
    self.ckpt = checkpoint.Checkpointer(workdir, config.train.keep_checkpoints)
    self.state, self.config_changes = restore_or_init(setup, self.ckpt, workdir)
    inputs = setup_lib.step_inputs(setup)
    self.input_variables = setup_lib.input_variables(inputs)
    self.jitted = setup_lib.jit_steps(setup, setup_lib.step_fn(
        setup, setup_lib.objective(setup), inputs))
    self.rng = setup.train_rng
    self.sampler = setup.sampler
    self.run_eval = functools.partial(evaluate.evaluate_split, setup_lib.eval_step(setup),
                                      class_counts=setup.class_counts, mesh=mesh,
                                      batch_size=config.train.eval_batch_size)
    self.log = metric_log.MetricLog(workdir)
    write_run_files(workdir, config, splits)

  @property
  def steps_per_epoch(self) -> int:
    return self.setup.steps_per_epoch

  @property
  def total_steps(self) -> int:
    return self.setup.total_steps

  def host_stream(self, start_step: int):
    return setup_lib.host_stream(self.setup, start_step)

  def indices(self, epoch: int, batch_in_epoch: int) -> np.ndarray:
    """This process's indices of one batch."""
    return self.sampler.local_indices(epoch, batch_in_epoch)

  def log_step(self, step, metrics, row, progress) -> None:
    monitor.log_train_metrics(step, metrics, row, progress, self.log, self.ckpt)

  def end_of_epoch(self, state, step: int) -> None:
    """Validates (keeping the best) and checkpoints for resume at an epoch end."""
    setup, config, ckpt = self.setup, self.config, self.ckpt
    splits = setup.splits
    done_epochs, last = step // setup.steps_per_epoch, step == setup.total_steps
    if not bool(monitor.all_finite(state.params)):  # a divergence between logged steps
      raise monitor.diverged("the parameters became non-finite", step,
                             float(setup.schedule(step - 1)), ckpt)
    if splits.val is not None and (done_epochs % config.train.eval_every_epochs == 0 or last):
      val = self.run_eval(state, splits.val)
      log_validation(self.log, step, done_epochs, val)
      ckpt.save_if_best(step, state, val["top1"])
    if done_epochs % config.train.checkpoint_every_epochs == 0 or last:
      ckpt.save(step, state, resume.data_position(step, setup.sampler, config, splits))
      maybe_kill_during_save(config, step)

  def close_checkpoints(self) -> None:
    self.ckpt.wait()

  def finish(self, state) -> dict[str, Any]:
    """Selects on validation, tests once and writes the run's outputs."""
    out = finish_member(self.setup, self.workdir, self.ckpt, state, self.run_eval,
                        self.config_changes)
    self.log.close()
    return out


def log_validation(log, step: int, done_epochs: int, val: dict[str, Any],
                   name: str = "") -> None:
  """The epoch's validation line and metrics."""
  logging.info("%sepoch %d: val top1 %.2f%% (many %s / medium %s / few %s)",
               f"{name}: " if name else "", done_epochs, 100 * val["top1"],
               *(results_lib.format_pct(val[b]).strip() for b in ("many", "medium", "few")))
  log.write(step, {"val/top1": val["top1"], "val/many": val["many"], "val/medium": val["medium"],
                   "val/few": val["few"], "val/ece": val["ece"], "val/nll": val["nll"],
                   "epoch": done_epochs})


def finish_member(setup, workdir, ckpt, state, run_eval, config_changes,
                  extra: dict[str, Any] | None = None, show: bool = True) -> dict[str, Any]:
  """Selection on validation, the one test evaluation, predictions, the feature cache and
  results.json of one run (or one population member) whose checkpoints have landed."""
  config, splits = setup.config, setup.splits
  selected_step = int(jax.device_get(state.step))
  if config.train.select == "best_val" and splits.val is not None:
    best = ckpt.restore_best(setup.abstract_state)
    if best is not None:
      selected_step, state = best
  ckpt.close()
  split_results = {}
  if splits.val is not None:
    split_results["val"] = run_eval(state, splits.val)
  split_results["test"] = run_eval(state, splits.test)  # evaluated once, after selection
  predictions = outputs.test_predictions(setup, state)
  if config.train.cache_features:
    outputs.cache_features(setup, workdir, state, selected_step)
  return outputs.write_results(setup, workdir, split_results, selected_step, predictions,
                               config_changes, extra, show)
