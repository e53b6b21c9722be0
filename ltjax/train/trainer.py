"""The training loop: resume, jitted steps, per-epoch validation and checkpoints, selection.

`train_and_evaluate(config, workdir)` is the whole job behind `python -m ltjax.main`; it is a
library function so notebooks and tests call it directly. The loop drives a run object, a
single run (`train.single_run`) or a population of members trained as one program
(`train.population`, chosen by `config.population`): both resume or initialise, give the
batch indices, log, validate and checkpoint at epoch ends and write their results. The loop
never names a method.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

from ltjax import config as config_lib
from ltjax.core import sharding
from ltjax.data import datasets
from ltjax.runs import finished
from ltjax.runs import results as results_lib
from ltjax.train import members as members_lib
from ltjax.train import monitor
from ltjax.train import population
from ltjax.train import resume
from ltjax.train import setup as setup_lib
from ltjax.train import single_run


def _dispatch(run, state, step, host_stream):
  """Runs the next step(s): several per dispatch on device data, never across an epoch end
  (validation / checkpoints); returns (state, metrics, count)."""
  jitted, mesh, rng = run.jitted, run.mesh, run.rng
  per_dispatch = run.config.train.steps_per_dispatch
  epoch, batch_in_epoch = run.sampler.position(step)
  count = min(per_dispatch, run.steps_per_epoch - batch_in_epoch)
  if count < per_dispatch:
    count = 1  # an epoch's tail runs step by step (one extra compilation, not one per length)
  if not jitted.on_device:
    images, labels = next(host_stream)
    batch = sharding.global_batch(mesh, {"image": images, "label": labels})
    return (*jitted.one(state, batch, rng, run.input_variables), 1)
  axis, members = run.index_axis, run.index_axis > 0
  indices = [run.indices(epoch, batch_in_epoch + i).astype(np.int32) for i in range(count)]
  if count == 1:
    idx = sharding.global_batch(mesh, {"i": indices[0]}, axis, members)["i"]
    return (*jitted.one(state, jitted.data, idx, rng, run.input_variables), 1)
  idx = sharding.global_batch(mesh, {"i": np.stack(indices)}, axis + 1, members)["i"]
  return (*jitted.many(state, jitted.data, idx, rng, run.input_variables), count)


def _loop(run, state, start_step: int, host_stream):
  """Steps from `start_step` to the end, with the run's logging and epoch ends."""
  config = run.config
  progress = monitor.Progress(start_step, run.total_steps)
  pending = []  # (step, metrics, row): fetched one dispatch late, the host never waits on it
  step = start_step
  while step < run.total_steps:
    state, step_metrics, count = _dispatch(run, state, step, host_stream)
    if step == start_step:
      progress.compiled(step + count)  # the first dispatch compiled the step
    for entry in pending:
      run.log_step(*entry, progress)
    pending = [(step + i + 1, step_metrics, i if count > 1 else None) for i in range(count)
               if (step + i + 1) % config.train.log_every_steps == 0]
    if step < config.debug.kill_at_step <= step + count:
      os.kill(os.getpid(), signal.SIGKILL)  # fault injection for the resume test
    step += count
    if step % run.steps_per_epoch == 0:
      for entry in pending:
        run.log_step(*entry, progress)
      pending = []
      run.end_of_epoch(state, step)
  return state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       members: list[members_lib.Member] | None = None) -> dict[str, Any]:
  """Trains, selects on validation, tests once, and writes `<workdir>/results.json` (a
  population: `<workdir>/members/<name>/results.json` and `<workdir>/population.json`).

  Resumes automatically from the latest checkpoint in `workdir`. `members`: train these
  configs as one population (e.g. several losses of one model, `ltjax.reproduce`) instead of
  `config.population`'s seeds x sweep; `config` then gives what they share.

  Returns:
    The results dict written to results.json (a population: population.json's).
  """
  config_lib.validate(config)
  finished.refuse_own_input(config, workdir)
  results_lib.ensure_writable_dir(workdir)
  os.makedirs(workdir, exist_ok=True)
  setup_lib.check_before_data(config)  # e.g. a missing teacher is found before the data
  is_population = members is not None or members_lib.is_population(config)
  done = None if is_population else resume.finished_results(config, workdir)
  if done is not None:
    if jax.process_index() == 0:
      print(f"{workdir} holds this run, finished (selected step {done.get('selected_step')}): "
            "nothing to train. Its results:\n" + results_lib.format_table(
                {k: done[k] for k in ("val", "test") if k in done}), flush=True)
      if results_lib.is_smoke(config):
        print(results_lib.SMOKE_CAVEAT, flush=True)
    return done
  if is_population:
    if members is None:
      members = members_lib.expand(config)  # a bad sweep fails before the data is loaded
    for m in members:
      config_lib.validate(m.config)
    members_lib.check_shared(members)
    mesh = sharding.make_population_mesh(config.population.member_devices)
  else:
    mesh = sharding.make_data_mesh()
  sharding.check_batch_size(config.train.batch_size)
  splits = setup_lib.build_splits(config)
  logging.info("%s\ndevices: %d (%s), processes: %d, per-device batch %d", datasets.describe(
      splits), jax.device_count(), jax.devices()[0].platform, jax.process_count(),
               config.train.batch_size // mesh.shape[sharding.DATA_AXIS])
  if is_population:
    run = population.PopulationRun(config, members, splits, mesh, workdir)
  else:
    run = single_run.SingleRun(config, splits, mesh, workdir)
  state, run.state = run.state, None  # the loop donates the state: hold no other reference
  start_step = int(np.max(jax.device_get(state.step)))
  if start_step:
    logging.info("resumed at step %d (epoch %d)", start_step,
                 start_step // run.steps_per_epoch)
  host_stream = None if run.jitted.on_device else run.host_stream(start_step)
  logging.info("training data %s; %d step(s) per dispatch",
               "on the device" if run.jitted.on_device else "on the host",
               config.train.steps_per_dispatch)
  state = _loop(run, state, start_step, host_stream)
  run.close_checkpoints()
  if host_stream is not None:
    host_stream.close()  # stops grain's workers, after the last checkpoint write has finished
  return run.finish(state)
