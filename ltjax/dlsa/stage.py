"""`stage = "dlsa"`: DLSA on frozen features, evaluated like every ltjax run.

  python -m ltjax.main --config configs/dlsa/cifar10_lt_ce.py --workdir runs/dlsa \
      --config.dlsa.features=runs/cifar10_ce

Writes results.json (val and test metrics of DLSA, of the stage-1 classifier when the features
carry its logits, and of the balanced-softmax linear control; the per-stage report; which split
selected the heads), test_predictions.npz with each test sample's route, and a per-class plot.
"""

from __future__ import annotations

import os
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

from ltjax import config as config_lib
from ltjax.core import metrics
from ltjax.dlsa import config as dlsa_section
from ltjax.dlsa import features as features_lib
from ltjax.dlsa import pipeline
from ltjax.runs import finished
from ltjax.runs import results as results_lib


def dlsa_config(c: ml_collections.ConfigDict) -> pipeline.DLSAConfig:
  """The pipeline options from `config.dlsa`."""
  return dlsa_section.pipeline_config(c)


def evaluate_features(config: ml_collections.ConfigDict, path: str) -> dict[str, Any]:
  """Runs DLSA on the features at `path`; returns the results dict (nothing written)."""
  dc = dlsa_config(config.dlsa)
  train, val, test, what = features_lib.load(
      path, val_holdout_fraction=config.dlsa.val_holdout_fraction, seed=config.seed)
  # From every split's labels (a val-only class must count) or the cache's class_counts.
  num_classes = features_lib.num_classes(train, val, test)
  counts = np.bincount(train["labels"], minlength=num_classes)
  absent = [int(c) for c in np.nonzero(counts == 0)[0]]
  if absent:
    in_eval = sorted({int(c) for s in (val, test) if s is not None for c in s["labels"]}
                     & set(absent))
    logging.warning("DLSA: %d class(es) have no training features %s%s; they run as absent "
                    "classes (dlsa.absent_classes=%r)", len(absent), absent,
                    f", and the val / test labels hold {in_eval}" if in_eval else "",
                    config.dlsa.absent_classes)
  base = {k: s["logits"] for k, s in (("val", val), ("test", test))
          if s is not None and "logits" in s}
  out = pipeline.run_pipeline(train, val, test, num_classes, dc, seed=config.seed,
                              base_logits=base or None)
  result: dict[str, Any] = {
      "method": "dlsa", "features": os.path.abspath(path), "features_layout": what,
      "selected_on": out["selected_on"], "num_classes": num_classes,
      "class_counts": counts.tolist(),
      "split_sizes": {"train": len(train["labels"]),
                      "val": 0 if val is None else len(val["labels"]),
                      "test": len(test["labels"])},
      "stages": out["stages"], "regular": out["regular"],
      "route_fractions": {k: (np.bincount(r, minlength=dc.max_depth + 1) / max(len(r), 1))
                          .tolist() for k, r in out["route"].items()},
  }
  if out["selected_on"] == "test":
    result["warning"] = ("heads were selected on the TEST split (dlsa.select_on='test'), as the "
                         "reference does: these test numbers are optimistic")
  for k, split in (("val", val), ("test", test)):
    if split is None or not len(split["labels"]):
      continue
    result[k] = metrics.evaluate_logits(out["logits"][k], split["labels"], counts)
    result.setdefault("baselines", {}).setdefault("control_bsm_linear", {})[k] = (
        metrics.evaluate_logits(out["control"][k], split["labels"], counts))
    if k in base:
      result["baselines"].setdefault("stage1", {})[k] = metrics.evaluate_logits(
          base[k], split["labels"], counts)
  if absent:
    result["absent_classes"] = absent
  result["_test_route"] = out["route"]["test"]
  result["_test_logits"] = out["logits"]["test"]
  result["_test_labels"] = test["labels"]
  return result


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """The `stage = "dlsa"` entry point of `ltjax.main`."""
  config_lib.validate(config)
  finished.refuse_own_input(config, workdir)
  results_lib.ensure_writable_dir(workdir)  # fail now, not after the work
  result = evaluate_features(config, config.dlsa.features)
  route = result.pop("_test_route")
  logits = result.pop("_test_logits")
  labels = result.pop("_test_labels")
  result["config"] = config.to_dict()
  if jax.process_index() == 0:
    predictions, confidence = results_lib.predictions_from_logits(logits)
    results_lib.write_run_outputs(
        workdir, result, test_labels=labels, predictions=predictions, confidence=confidence,
        class_counts=result["class_counts"],
        title=f"DLSA: test top-1 {100 * result['test']['top1']:.1f}%")
    np.savez(os.path.join(workdir, "test_routes.npz"), route=route)
    for name, res in result.get("baselines", {}).items():
      print(f"{name}:\n{results_lib.format_table(res)}", flush=True)
  return result
