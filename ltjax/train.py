"""The training loop: data, sharded init, resume, jitted steps, evaluation, results.

`train_and_evaluate(config, workdir)` is the whole job behind `python -m ltjax.main`; it is a
library function so notebooks and tests call it directly.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ltjax import checkpoint
from ltjax import config as config_lib
from ltjax import distill
from ltjax import evaluate
from ltjax import feature_cache
from ltjax import granularity
from ltjax import losses
from ltjax import metric_log
from ltjax import models
from ltjax import optim
from ltjax import results as results_lib
from ltjax import sharding
from ltjax import steps
from ltjax.data import arrays
from ltjax.data import datasets
from ltjax.data import device_data
from ltjax.data import prefetch
from ltjax.data import samplers


def _data_position(step: int, sampler: samplers.IndexSampler, config,
                   auxiliary: dict[str, Any] | None = None) -> dict[str, Any]:
  epoch, batch = sampler.position(step)
  position = {"step": int(step), "epoch": epoch, "batch_in_epoch": batch,
              "steps_per_epoch": sampler.steps_per_epoch, "sampler": config.sampler,
              "seed": config.seed, "train_size": int(len(sampler.labels)),
              "pool_size": int(sampler.pool_size),
              # what the checkpoint was trained under, checked when it is resumed
              "config": config_lib.result_fingerprint(config)}
  if auxiliary:  # the checkpoint says what auxiliary data it was trained with
    position["aux_classes"] = auxiliary["num_classes"]
    position["aux_images_per_epoch"] = auxiliary["images_per_epoch"]
  return position


def _check_resume_position(saved: dict[str, Any], expected: dict[str, Any], workdir: str):
  """A checkpoint only resumes the same sample stream if the data setup is unchanged."""
  for key in ("steps_per_epoch", "sampler", "seed", "train_size", "pool_size",
              "aux_classes", "aux_images_per_epoch"):
    if key not in expected and key not in saved:
      continue
    if key == "pool_size" and key not in saved:
      continue  # written by ltjax before the per-epoch pool existed
    if saved.get(key) != expected.get(key):
      raise ValueError(
          f"the checkpoint in {workdir} was written with {key}={saved.get(key)!r}, but this "
          f"config gives {expected.get(key)!r}; resume with the original config or use a fresh "
          "--workdir")


def _check_resume_config(saved: dict[str, Any], config, workdir: str) -> dict[str, Any]:
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


def _record_config_change(workdir: str, step: int, changes: dict[str, Any]) -> list:
  """Appends an accepted change to <workdir>/config_changes.json; returns the whole history."""
  path = os.path.join(workdir, "config_changes.json")
  history = _config_change_history(workdir)
  history.append({"resumed_at_step": int(step), "changes": changes})
  if jax.process_index() == 0:
    results_lib.write_json_atomically(path, {"history": history})
  return history


def _config_change_history(workdir: str) -> list:
  path = os.path.join(workdir, "config_changes.json")
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    return json.load(f)["history"]


class TrainingDiverged(FloatingPointError):
  """The training loss or the parameters became non-finite."""


def _diverged(what: str, step: int, lr: float, ckpt: checkpoint.Checkpointer) -> TrainingDiverged:
  """The divergence error, naming the step, the lr and the last good checkpoint."""
  ckpt.wait()  # a save in flight holds a state from before the divergence: let it land
  last = ckpt.latest.latest_step()
  where = ("no checkpoint was written before it" if last is None else
           f"the last good checkpoint, {os.path.join(str(ckpt.latest.directory), str(last))} "
           f"(step {last}), is intact")
  return TrainingDiverged(
      f"training diverged: {what} at step {step} (learning rate {lr:.4g}); {where}. Lower "
      "optimizer.learning_rate (or check the data) and rerun, with a fresh --workdir or with "
      "--config.train.allow_config_change=True to continue from that checkpoint")


@jax.jit
def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


class _Progress:
  """steps/s and ETA for the log."""

  def __init__(self, start_step: int, total_steps: int):
    self.total = total_steps
    self.last_step, self.last_time = start_step, time.time()

  def rate(self, step: int) -> float:
    """Steps/s since the previous call (the first interval includes compilation)."""
    now = time.time()
    rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
    self.last_step, self.last_time = step, now
    return rate

  def line(self, step: int, rate: float, m: dict[str, float]) -> str:
    eta = (self.total - step) / max(rate, 1e-9)
    return (f"step {step}/{self.total} | {rate:.1f} steps/s | ETA {eta / 60:.1f} min | "
            f"loss {m['loss']:.4f} | acc {100 * m['accuracy']:.1f}% | lr {m['learning_rate']:.4g}")


def _log_train_metrics(step, m, row, progress, log, ckpt):
  """Logs one step's metrics; `row` picks the step out of a multi-step dispatch's stack."""
  m = {k: float(v if row is None else v[row]) for k, v in jax.device_get(m).items()}
  if not np.isfinite(m["loss"]):
    raise _diverged(f"the training loss became {m['loss']}", step, m["learning_rate"], ckpt)
  rate = progress.rate(step)
  logging.info(progress.line(step, rate, m))
  log.write(step, {f"train/{k}": v for k, v in m.items()} | {"train/steps_per_sec": rate})


def _target_head(params, num_targets: int, num_classes: int):
  """The head's target rows (a Dense head's kernel (D, C) and bias (C,)), auxiliary dropped."""
  return jax.tree.map(lambda a: a[..., :num_targets] if a.shape[-1] == num_classes else a,
                      params)


def _cache_features(config, workdir, model, state, splits, mesh, selected_step):
  """Writes the selected weights' features and logits for decoupled stage-2 methods (target
  classes only when auxiliary classes were trained)."""
  num_targets = splits.num_targets if splits.auxiliary else None
  extract = jax.jit(feature_cache.make_extract_step(model, mean=splits.mean, std=splits.std,
                                                    num_targets=num_targets),
                    out_shardings=sharding.batch_sharded(mesh))
  arrays = {name: feature_cache.extract_split(extract, state, getattr(splits, name), mesh,
                                              config.train.eval_batch_size)
            for name in feature_cache.SPLITS if getattr(splits, name) is not None}
  head = jax.device_get(state.params["head"]) if "head" in state.params else None
  if head is not None and splits.auxiliary:
    head = _target_head(head, splits.num_targets, splits.num_classes)
  directory = feature_cache.write_cache(
      workdir, arrays, splits.target_counts, head,
      {"step": selected_step, "model": config.model.name, "dataset": splits.name,
       "image_shape": list(splits.test.image_shape)})
  logging.info("feature cache written to %s", directory)


def _load_pretrained(path: str, state, tx, state_sharding):
  """A fresh run's params with the backbone from a pretrained checkpoint (the head stays
  freshly initialised); the optimizer state is re-initialised for them."""
  from ltjax.models import vit_checkpoint  # pylint: disable=g-import-not-at-top
  if not os.path.exists(path):
    raise FileNotFoundError(f"model.pretrained {path!r} does not exist; give the backbone "
                            "checkpoint (.npz, timm or big_vision layout) or set "
                            "--config.model.pretrained= to train from scratch")
  params = vit_checkpoint.load_pretrained(path, jax.device_get(state.params))
  logging.info("backbone loaded from %s", path)
  new = state.replace(params=params, opt_state=tx.init(params))
  return jax.device_put(new, state_sharding)


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
  splits = datasets.build_splits(config)
  aux_info = splits.auxiliary
  # Metrics, buckets and results cover the target classes; the loss's prior covers all C
  # classes with the auxiliary ones at their per-epoch cap (fixed, granularity.md §7.6).
  class_counts = splits.target_counts
  prior_counts = splits.class_counts
  epoch_pool = None
  if aux_info:
    prior_counts = granularity.capped_counts(splits.train.labels, splits.num_classes,
                                             splits.num_targets, config.aux.cap)

    def epoch_pool(epoch):
      return granularity.capped_epoch_indices(
          splits.train.labels, splits.num_targets, cap=config.aux.cap, seed=config.seed,
          epoch=epoch, replace=config.aux.cap_replace)
  num_targets = splits.num_targets if aux_info else None
  logging.info("%s\ndevices: %d (%s), processes: %d, per-device batch %d", datasets.describe(
      splits), jax.device_count(), jax.devices()[0].platform, jax.process_count(),
               config.train.batch_size // jax.device_count())

  model = models.build_model(config.model.name, splits.num_classes,
                             **models.config_kwargs(config.model))
  sampler = samplers.IndexSampler(
      splits.train.labels, config.sampler, config.seed, config.train.batch_size,
      jax.process_index(), jax.process_count(), config.train.steps_per_epoch_limit,
      epoch_pool=epoch_pool)
  steps_per_epoch = sampler.steps_per_epoch
  total_steps = steps_per_epoch * config.train.num_epochs
  schedule = optim.learning_rate_schedule(config.optimizer, steps_per_epoch,
                                          config.train.num_epochs)
  init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
  abstract_params = jax.eval_shape(
      lambda r: model.init(r, jnp.zeros((1, *splits.test.image_shape)), train=False),
      init_rng)["params"]
  tx = optim.build_optimizer(config.optimizer, schedule, abstract_params)
  init_fn = functools.partial(steps.init_state, model, tx,
                              image_shape=splits.test.image_shape)
  # Initialise abstractly, then create the state directly with its (replicated) sharding.
  abstract_state = jax.eval_shape(init_fn, init_rng)
  replicated = sharding.replicated(mesh)
  state_sharding = jax.tree.map(lambda _: replicated, abstract_state)
  abstract_placed = jax.tree.map(
      lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract_state,
      state_sharding)

  ckpt = checkpoint.Checkpointer(os.path.join(workdir), config.train.keep_checkpoints)
  restored = ckpt.restore_latest(abstract_placed)
  if restored is None:
    state = jax.jit(init_fn, out_shardings=state_sharding)(init_rng)
    if config.model.pretrained:
      pretrained = config.model.pretrained
      if not os.path.isabs(pretrained):
        pretrained = os.path.join(config_lib.data_dir(config), pretrained)
      state = _load_pretrained(pretrained, state, tx, state_sharding)
    config_history = []
  else:
    state, position = restored
    _check_resume_position(
        position, _data_position(position["step"], sampler, config, aux_info), workdir)
    changes = _check_resume_config(position, config, workdir)
    config_history = (_record_config_change(workdir, position["step"], changes) if changes
                      else _config_change_history(workdir))
  start_step = int(jax.device_get(state.step))
  if start_step:
    logging.info("resumed at step %d (epoch %d)", start_step, start_step // steps_per_epoch)

  counts_device = jax.device_put(jnp.asarray(prior_counts, jnp.float32), replicated)
  num_experts = config.model.num_experts if config.model.name.startswith("ride_") else 1
  neighbors = None
  if aux_info:
    neighbors = jax.device_put(jnp.asarray(splits.neighbors, jnp.int32), replicated)
  objective = losses.objective(config.loss, counts_device, num_experts, neighbors=neighbors,
                               silencing=config.aux.silencing)
  teacher, teacher_variables = None, None
  if config.distill.teacher_workdir:
    teacher, teacher_variables = distill.load_teacher(config.distill.teacher_workdir,
                                                      splits.num_classes, replicated)
  step_fn = steps.make_train_step(
      model, tx, objective, schedule, mean=splits.mean, std=splits.std,
      steps_per_epoch=steps_per_epoch, augment_kind=config.augment.kind,
      crop_padding=config.augment.crop_padding, flip=config.augment.flip,
      rotation_degrees=config.augment.rotation_degrees,
      image_size=splits.test.image_shape[0], teacher=teacher,
      teacher_train_bn=config.distill.teacher_train_bn,
      mixup_alpha=config.augment.mixup_alpha, cutmix_alpha=config.augment.cutmix_alpha,
      cutmix_switch_prob=config.augment.cutmix_switch_prob,
      label_smoothing=config.augment.label_smoothing, num_classes=splits.num_classes,
      randaugment_ops=config.augment.randaugment_ops,
      randaugment_magnitude=config.augment.randaugment_magnitude,
      randaugment_magnitude_std=config.augment.randaugment_magnitude_std)
  # Datasets that fit live on the device; the step then gathers its own batch from indices.
  on_device = device_data.use_device_data(config.train.data_on_device, splits.train,
                                          config.train.device_data_max_megabytes)
  per_dispatch = config.train.steps_per_dispatch
  if per_dispatch > 1 and not on_device:
    raise ValueError(f"config.train.steps_per_dispatch={per_dispatch} needs the training data on "
                     "the device (train.data_on_device='auto' or 'on' with an in-memory "
                     "dataset); set it to 1 for this dataset")
  if on_device:
    train_data = device_data.put_replicated(splits.train, replicated)
    train_step = jax.jit(device_data.indexed_step(step_fn), donate_argnums=(0,),
                         out_shardings=(state_sharding, replicated))
    train_steps = jax.jit(device_data.scan_steps(step_fn), donate_argnums=(0,),
                          out_shardings=(state_sharding, replicated))
  else:
    train_step = jax.jit(step_fn, donate_argnums=(0,),
                         out_shardings=(state_sharding, replicated))
  host_stream = None
  if not on_device:
    workers = config.train.loader_workers
    if workers < 0:  # auto: worker processes only for files to decode
      workers = 0 if isinstance(splits.train, arrays.ArraySplit) else min(8, os.cpu_count() or 1)
    host_stream = prefetch.host_batches(splits.train, sampler, start_step, total_steps,
                                        num_workers=workers)
  logging.info("training data %s; %d step(s) per dispatch", "on the device" if on_device else
               f"gathered on the host ({workers} decode workers)", per_dispatch)
  eval_step = jax.jit(steps.make_eval_step(model, mean=splits.mean, std=splits.std,
                                           num_targets=num_targets),
                      out_shardings=replicated)
  run_eval = functools.partial(evaluate.evaluate_split, eval_step, class_counts=class_counts,
                               mesh=mesh, batch_size=config.train.eval_batch_size)

  log = metric_log.MetricLog(workdir)
  if jax.process_index() == 0:
    results_lib.write_json_atomically(os.path.join(workdir, "config.json"), config.to_dict())
    if aux_info:
      results_lib.write_json_atomically(os.path.join(workdir, "auxiliary.json"), aux_info)
  progress = _Progress(start_step, total_steps)
  pending = []  # (step, metrics, row): fetched one dispatch late, the host never waits on it
  step = start_step
  while step < total_steps:
    epoch, batch_in_epoch = sampler.position(step)
    # Several steps per dispatch, never across an epoch end (validation / checkpoints).
    count = min(per_dispatch, steps_per_epoch - batch_in_epoch)
    if count < per_dispatch:
      count = 1  # an epoch's tail runs step by step (one extra compilation, not one per length)
    indices = [sampler.local_indices(epoch, batch_in_epoch + i) for i in range(count)]
    if not on_device:
      images, labels = next(host_stream)
      batch = sharding.global_batch(mesh, {"image": images, "label": labels})
      state, step_metrics = train_step(state, batch, train_rng, teacher_variables)
    elif count == 1:
      idx = sharding.global_batch(mesh, {"i": indices[0].astype(np.int32)})["i"]
      state, step_metrics = train_step(state, train_data, idx, train_rng, teacher_variables)
    else:
      idx = sharding.global_batch(mesh, {"i": np.stack(indices).astype(np.int32)}, axis=1)["i"]
      state, step_metrics = train_steps(state, train_data, idx, train_rng, teacher_variables)
    for entry in pending:
      _log_train_metrics(*entry, progress, log, ckpt)
    pending = [(step + i + 1, step_metrics, i if count > 1 else None) for i in range(count)
               if (step + i + 1) % config.train.log_every_steps == 0]
    if step < config.debug.kill_at_step <= step + count:
      os.kill(os.getpid(), signal.SIGKILL)  # fault injection for the resume test
    step += count
    if step % steps_per_epoch:
      continue
    # End of an epoch: validate, keep the best, checkpoint for resume.
    done_epochs, last = epoch + 1, step == total_steps
    for entry in pending:
      _log_train_metrics(*entry, progress, log, ckpt)
    pending = []
    if not bool(_all_finite(state.params)):  # a divergence between logged steps
      raise _diverged("the parameters became non-finite", step,
                      float(schedule(step - 1)), ckpt)
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
      ckpt.save(step, state, _data_position(step, sampler, config, aux_info))
      if step == config.debug.kill_during_save_at_step:
        os.kill(os.getpid(), signal.SIGKILL)  # fault injection: the write is in flight
  ckpt.wait()
  if host_stream is not None:
    host_stream.close()  # stops grain's workers, after the last checkpoint write has finished

  selected_step = int(jax.device_get(state.step))
  if config.train.select == "best_val" and splits.val is not None:
    best = ckpt.restore_best(abstract_placed)
    if best is not None:
      selected_step, state = best
  ckpt.close()
  split_results = {}
  if splits.val is not None:
    split_results["val"] = run_eval(state, splits.val)
  split_results["test"] = run_eval(state, splits.test)  # evaluated once, after selection
  predict = jax.jit(evaluate.make_predict_step(model, mean=splits.mean, std=splits.std,
                                               num_targets=num_targets),
                    out_shardings=sharding.batch_sharded(mesh))
  test_predictions = evaluate.collect_split(predict, state, splits.test, mesh,
                                            config.train.eval_batch_size)
  if config.train.cache_features:
    _cache_features(config, workdir, model, state, splits, mesh, selected_step)
  out = {
      "config": config.to_dict(),
      "dataset": splits.name,
      "class_names": splits.class_names[:splits.num_targets],
      "class_counts": class_counts.tolist(),
      "split_sizes": {k: (0 if getattr(splits, k) is None else len(getattr(splits, k)))
                      for k in ("train", "val", "test")},
      "selection": config.train.select if splits.val is not None else "last",
      "selected_step": selected_step,
      "total_steps": total_steps,
      "num_devices": jax.device_count(),
      "num_processes": jax.process_count(),
      **split_results,
  }
  if aux_info:
    out["auxiliary"] = aux_info
  if config_history:
    out["config_changes"] = config_history
  if jax.process_index() == 0:
    results_lib.write_json_atomically(os.path.join(workdir, "results.json"), out)
    results_lib.write_predictions(workdir, splits.test.labels, test_predictions["prediction"],
                                  test_predictions["confidence"])
    results_lib.plot_per_class_accuracy(
        os.path.join(workdir, "per_class_accuracy.png"), class_counts,
        split_results["test"]["per_class"],
        f"{splits.name}: test top-1 {100 * split_results['test']['top1']:.1f}%")
    table = results_lib.format_table(split_results)
    print(table, flush=True)
    print(f"results written to {os.path.join(workdir, 'results.json')}", flush=True)
  log.close()
  return out
