"""What a finished training run leaves in its workdir: results.json, test predictions, the
per-class plot, the printed table and the feature cache of the selected weights."""

from __future__ import annotations

import os
from typing import Any

from absl import logging
import jax

from ltjax.core import evaluate
from ltjax.core import sharding
from ltjax.runs import feature_cache
from ltjax.runs import results as results_lib
from ltjax.train import setup as setup_lib


def _target_head(params, num_targets: int, num_classes: int):
  """The head's target rows (a Dense head's kernel (D, C) and bias (C,)), auxiliary dropped."""
  return jax.tree.map(lambda a: a[..., :num_targets] if a.shape[-1] == num_classes else a,
                      params)


def cache_features(setup: setup_lib.TrainSetup, workdir: str, state,
                   selected_step: int) -> None:
  """Writes the selected weights' features and logits for decoupled stage-2 methods (target
  classes only when auxiliary classes were trained)."""
  config, splits, mesh = setup.config, setup.splits, setup.mesh
  extract = jax.jit(feature_cache.make_extract_step(setup.model, mean=splits.mean,
                                                    std=splits.std,
                                                    num_targets=setup.num_targets),
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


def test_predictions(setup: setup_lib.TrainSetup, state) -> dict[str, Any]:
  """Argmax predictions and max-softmax confidence of the test split (target classes)."""
  splits = setup.splits
  predict = jax.jit(evaluate.make_predict_step(setup.model, mean=splits.mean, std=splits.std,
                                               num_targets=setup.num_targets),
                    out_shardings=sharding.batch_sharded(setup.mesh))
  return evaluate.collect_split(predict, state, splits.test, setup.mesh,
                                setup.config.train.eval_batch_size)


def write_results(setup: setup_lib.TrainSetup, workdir: str, split_results: dict[str, Any],
                  selected_step: int, predictions: dict[str, Any],
                  config_changes: list, extra: dict[str, Any] | None = None,
                  show: bool = True) -> dict[str, Any]:
  """results.json (strict), test predictions, the per-class plot and (`show`) the printed
  table; returns the results dict. `extra`: more top-level entries (a population member's
  place)."""
  config, splits = setup.config, setup.splits
  out = {
      "config": config.to_dict(),
      "dataset": splits.name,
      "class_names": splits.class_names[:splits.num_targets],
      "class_counts": setup.class_counts.tolist(),
      "split_sizes": {k: (0 if getattr(splits, k) is None else len(getattr(splits, k)))
                      for k in ("train", "val", "test")},
      # What the run was trained and tested on (`DatasetSplits.content_hash`): `ltjax.reproduce`
      # reuses a finished run only for the same data.
      "data_hash": splits.content_hash(),
      "selection": config.train.select if splits.val is not None else "last",
      "selected_step": selected_step,
      "total_steps": setup.total_steps,
      "num_devices": jax.device_count(),
      "num_processes": jax.process_count(),
      **split_results,
  }
  if splits.auxiliary:
    out["auxiliary"] = splits.auxiliary
  if config_changes:
    out["config_changes"] = config_changes
  if extra:
    out.update(extra)
  if jax.process_index() == 0:
    results_lib.write_run_outputs(
        workdir, out, test_labels=splits.test.labels, predictions=predictions["prediction"],
        confidence=predictions["confidence"], class_counts=setup.class_counts,
        title=f"{splits.name}: test top-1 {100 * split_results['test']['top1']:.1f}%",
        show=show)
    if show:
      print(f"results written to {os.path.join(workdir, 'results.json')}", flush=True)
  return out
