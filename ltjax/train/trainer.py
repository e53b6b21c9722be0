"""The training loop: resume, jitted steps, per-epoch validation and checkpoints, selection.

`train_and_evaluate(config, workdir)` is the whole job behind `python -m ltjax.main`; it is a
library function so notebooks and tests call it directly. It composes `train.setup` (what the
run computes with), `train.resume` (what a checkpoint must match) and `train.outputs` (what a
finished run writes); it never names a method.
"""

from __future__ import annotations

import functools
import os
import signal
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

from ltjax import config as config_lib
from ltjax.core import checkpoint
from ltjax.core import evaluate
from ltjax.core import metric_log
from ltjax.core import sharding
from ltjax.data import datasets
from ltjax.ride import distill
from ltjax.runs import results as results_lib
from ltjax.train import monitor
from ltjax.train import outputs
from ltjax.train import resume
from ltjax.train import setup as setup_lib


def _restore_or_init(setup, ckpt, workdir):
  """(state, accepted config changes): the latest checkpoint after its checks, else a fresh
  initialisation."""
  restored = ckpt.restore_latest(setup.abstract_state)
  if restored is None:
    return setup_lib.initial_state(setup), []
  state, position = restored
  config = setup.config
  resume.check_position(position, resume.data_position(position["step"], setup.sampler, config,
                                                       setup.splits.auxiliary), workdir)
  changes = resume.check_config(position, config, workdir)
  history = (resume.record_change(workdir, position["step"], changes) if changes
             else resume.change_history(workdir))
  return state, history


def _dispatch(setup, jitted, state, step, host_stream, teacher_variables):
  """Runs the next step(s): several per dispatch on device data, never across an epoch end
  (validation / checkpoints); returns (state, metrics, count)."""
  sampler, mesh, rng = setup.sampler, setup.mesh, setup.train_rng
  per_dispatch = setup.config.train.steps_per_dispatch
  epoch, batch_in_epoch = sampler.position(step)
  count = min(per_dispatch, setup.steps_per_epoch - batch_in_epoch)
  if count < per_dispatch:
    count = 1  # an epoch's tail runs step by step (one extra compilation, not one per length)
  if not jitted.on_device:
    images, labels = next(host_stream)
    batch = sharding.global_batch(mesh, {"image": images, "label": labels})
    return (*jitted.one(state, batch, rng, teacher_variables), 1)
  indices = [sampler.local_indices(epoch, batch_in_epoch + i) for i in range(count)]
  if count == 1:
    idx = sharding.global_batch(mesh, {"i": indices[0].astype(np.int32)})["i"]
    return (*jitted.one(state, jitted.data, idx, rng, teacher_variables), 1)
  idx = sharding.global_batch(mesh, {"i": np.stack(indices).astype(np.int32)}, axis=1)["i"]
  return (*jitted.many(state, jitted.data, idx, rng, teacher_variables), count)


def _end_of_epoch(setup, state, step, run_eval, log, ckpt):
  """Validates (keeping the best) and checkpoints for resume at an epoch end."""
  config, splits = setup.config, setup.splits
  done_epochs, last = step // setup.steps_per_epoch, step == setup.total_steps
  if not bool(monitor.all_finite(state.params)):  # a divergence between logged steps
    raise monitor.diverged("the parameters became non-finite", step,
                    float(setup.schedule(step - 1)), ckpt)
  if splits.val is not None and (done_epochs % config.train.eval_every_epochs == 0 or last):
    val = run_eval(state, splits.val)
    logging.info("epoch %d: val top1 %.2f%% (many %s / medium %s / few %s)", done_epochs,
                 100 * val["top1"], *(results_lib.format_pct(val[b]).strip()
                                      for b in ("many", "medium", "few")))
    log.write(step, {"val/top1": val["top1"], "val/many": val["many"],
                     "val/medium": val["medium"], "val/few": val["few"],
                     "val/ece": val["ece"], "val/nll": val["nll"], "epoch": done_epochs})
    ckpt.save_if_best(step, state, val["top1"])
  if done_epochs % config.train.checkpoint_every_epochs == 0 or last:
    ckpt.save(step, state, resume.data_position(step, setup.sampler, config,
                                                splits.auxiliary))
    if step == config.debug.kill_during_save_at_step:
      os.kill(os.getpid(), signal.SIGKILL)  # fault injection: the write is in flight


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains, selects on validation, tests once, and writes `<workdir>/results.json`.

  Resumes automatically from the latest checkpoint in `workdir`.

  Returns:
    The results dict written to results.json.
  """
  config_lib.validate(config)
  results_lib.ensure_writable_dir(workdir)
  os.makedirs(workdir, exist_ok=True)
  if config.distill.teacher_workdir:  # before the data: a missing teacher is found at once
    distill.check_teacher(config.distill.teacher_workdir)
  mesh = sharding.make_data_mesh()
  sharding.check_batch_size(config.train.batch_size)
  splits = setup_lib.build_splits(config)
  logging.info("%s\ndevices: %d (%s), processes: %d, per-device batch %d", datasets.describe(
      splits), jax.device_count(), jax.devices()[0].platform, jax.process_count(),
               config.train.batch_size // jax.device_count())
  setup = setup_lib.build(config, splits, mesh)
  ckpt = checkpoint.Checkpointer(workdir, config.train.keep_checkpoints)
  state, config_changes = _restore_or_init(setup, ckpt, workdir)
  start_step = int(jax.device_get(state.step))
  if start_step:
    logging.info("resumed at step %d (epoch %d)", start_step,
                 start_step // setup.steps_per_epoch)
  teacher, teacher_variables = setup_lib.teacher(setup)
  jitted = setup_lib.jit_steps(setup, setup_lib.step_fn(setup, setup_lib.objective(setup),
                                                        teacher))
  host_stream = None if jitted.on_device else setup_lib.host_stream(setup, start_step)
  logging.info("training data %s; %d step(s) per dispatch",
               "on the device" if jitted.on_device else "on the host",
               config.train.steps_per_dispatch)
  run_eval = functools.partial(evaluate.evaluate_split, setup_lib.eval_step(setup),
                               class_counts=setup.class_counts, mesh=mesh,
                               batch_size=config.train.eval_batch_size)
  log = metric_log.MetricLog(workdir)
  if jax.process_index() == 0:
    results_lib.write_json_atomically(os.path.join(workdir, "config.json"), config.to_dict())
    if splits.auxiliary:
      results_lib.write_json_atomically(os.path.join(workdir, "auxiliary.json"),
                                        splits.auxiliary)
  progress = monitor.Progress(start_step, setup.total_steps)
  pending = []  # (step, metrics, row): fetched one dispatch late, the host never waits on it
  step = start_step
  while step < setup.total_steps:
    state, step_metrics, count = _dispatch(setup, jitted, state, step, host_stream,
                                           teacher_variables)
    for entry in pending:
      monitor.log_train_metrics(*entry, progress, log, ckpt)
    pending = [(step + i + 1, step_metrics, i if count > 1 else None) for i in range(count)
               if (step + i + 1) % config.train.log_every_steps == 0]
    if step < config.debug.kill_at_step <= step + count:
      os.kill(os.getpid(), signal.SIGKILL)  # fault injection for the resume test
    step += count
    if step % setup.steps_per_epoch == 0:
      for entry in pending:
        monitor.log_train_metrics(*entry, progress, log, ckpt)
      pending = []
      _end_of_epoch(setup, state, step, run_eval, log, ckpt)
  ckpt.wait()
  if host_stream is not None:
    host_stream.close()  # stops grain's workers, after the last checkpoint write has finished

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
  out = outputs.write_results(setup, workdir, split_results, selected_step, predictions,
                              config_changes)
  log.close()
  return out
