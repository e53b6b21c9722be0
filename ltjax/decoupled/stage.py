"""Decoupled stage 2: re-balance the classifier of a finished stage-1 run from its feature
cache, tune on validation, test once, and write results like a training run.

  python -m ltjax.main --config configs/cifar100_lt/crt.py --workdir runs/crt \
      --config.decoupled.stage1_workdir=runs/cifar100_ce
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable
import zipfile

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ltjax import config as config_lib
from ltjax import losses
from ltjax.core import metrics
from ltjax.decoupled import heads
from ltjax.core import plugins
from ltjax.decoupled.method import Method
from ltjax.runs import feature_cache
from ltjax.runs import finished
from ltjax.runs import results as results_lib


def _tune_on_val(logits_for_tau: Callable[[float, dict], jax.Array], val, class_counts,
                 grid) -> tuple[float, dict[str, float]]:
  """The grid value with the best validation top-1 (ties: the smallest value)."""
  scores = {}
  for tau in grid:
    scores[float(tau)] = metrics.evaluate_logits(logits_for_tau(tau, val), val["labels"],
                                                 class_counts)["top1"]
  best = max(scores.items(), key=lambda kv: (kv[1], -kv[0]))[0]
  return best, scores


def _sgd_kwargs(config: ml_collections.ConfigDict) -> dict[str, Any]:
  dc = config.decoupled
  return dict(seed=config.seed, sampler=dc.sampler, num_epochs=dc.num_epochs,
              batch_size=dc.batch_size, learning_rate=dc.learning_rate,
              weight_decay=dc.weight_decay, nesterov=dc.nesterov)


def _fit_crt(config, train, val, head):
  """cRT: a freshly initialised linear classifier trained on the cached features."""
  del val, head
  params, curve = heads.crt(train["features"], train["labels"], len(train["class_counts"]),
                                **_sgd_kwargs(config))
  extra = {"final_train_loss": float(curve[-1])}
  return lambda d: d["features"] @ params["kernel"] + params["bias"][None, :], extra


def _fit_lws(config, train, val, head):
  """LWS: per-class scales learnt on the cached logits."""
  del val, head
  scales, curve = heads.lws(train["logits"], train["labels"], **_sgd_kwargs(config))
  extra = {"final_train_loss": float(curve[-1]), "scales": np.asarray(scales).tolist()}
  return lambda d: d["logits"] * scales[None, :], extra


def _fit_ncm(config, train, val, head):
  """NCM: cosine similarity to the class means of the cached training features."""
  del config, val, head
  centroids = heads.class_means(train["features"], train["labels"],
                                    len(train["class_counts"]))
  return lambda d: heads.ncm_logits(d["features"], centroids), {}


def _fit_tuned(config, val, counts, logits_for: Callable[[float, dict], jax.Array]):
  """logits_for(tau, split) with tau chosen on validation; extra records the search."""
  tau, scores = _tune_on_val(logits_for, val, counts, config.decoupled.tau_grid)
  logging.info("tuned tau on val: %.2f (val top-1 %.2f%%)", tau, 100 * scores[tau])
  extra = {"tuned": {"tau": tau, "val_top1_by_tau": scores, "selected_on": "val"}}
  return lambda d: logits_for(tau, d), extra


def _fit_tau_norm(config, train, val, head):
  """tau-normalisation of the stage-1 classifier's kernel, tau tuned on validation."""
  kernel = jnp.asarray(head["kernel"])
  return _fit_tuned(config, val, train["class_counts"],
                    lambda tau, d: heads.tau_norm_logits(d["features"], kernel, tau))


def _fit_posthoc(config, train, val, head):
  """Post-hoc logit adjustment of the cached logits, strength tuned on validation."""
  del head
  counts = train["class_counts"]
  return _fit_tuned(config, val, counts,
                    lambda tau, d: losses.adjust_logits_posthoc(d["logits"], counts, tau))


# decoupled.method -> its entry: the classic ones here, other rooms' from their records
# (`MethodRecord.stage2_methods`, e.g. RIDE's router). The single list of valid method names
# (config validation reads it too). Adding a method = a fit function + one entry (here, in a
# room's record, or `METHODS["name"] = Method(...)` from user code).
METHODS = plugins.Collected("stage2_methods", {
    "crt": Method(_fit_crt),
    "lws": Method(_fit_lws),
    "tau_norm": Method(_fit_tau_norm, tuned=True, needs_head=True),
    "ncm": Method(_fit_ncm),
    "posthoc": Method(_fit_posthoc, tuned=True),
})


def tuned_methods() -> tuple[str, ...]:
  """The methods tuned on validation."""
  return tuple(name for name, m in METHODS.items() if m.tuned)


def _check_method_name(method: str) -> None:
  if method not in METHODS:
    raise ValueError(f"config.decoupled.method={method!r} is not a decoupled stage-2 method; "
                     f"choose one of {list(METHODS)}")


def _others(*excluded: str) -> str:
  return " / ".join(m for m in METHODS if m not in excluded)


def _check_method_fits(method: str, source: str, model: str | None, *, has_val: bool,
                       has_head: bool, multi_expert: bool) -> None:
  """Raises ValueError when the stage-1 run at `source` lacks what `method` needs."""
  what = ("the stage-1 run" + (f" {source}" if source else "") +
          (f" (model {model!r})" if model else ""))
  cache = os.path.join(source, "features")
  entry = METHODS[method]
  if entry.tuned and not has_val:
    raise ValueError(f"decoupled.method={method!r} tunes its strength on the validation "
                     f"split, and {what} has none (dataset.val_mode='none'); ltjax never "
                     "tunes on test. Re-run stage 1 with a validation split.")
  if entry.needs_head and not has_head:
    experts = [m for m, e in METHODS.items() if e.needs_experts]
    single = [m for m, e in METHODS.items() if m != method and not e.needs_experts]
    fix = (f"use decoupled.method={experts[0]!r} for a multi-expert run, or "
           f"{' / '.join(single)}" if multi_expert and experts else
           f"use one of {' / '.join(single)}")
    raise ValueError(f"decoupled.method={method!r} normalises the single linear classifier "
                     f"of stage 1, and {what} has none ({cache}/head.npz absent"
                     f"{': a multi-expert model' if multi_expert else ''}): {fix}")
  if entry.needs_experts and not multi_expert:
    raise ValueError(f"decoupled.method={method!r} needs a multi-expert (RIDE) stage-1 run, "
                     f"and {what} has a single classifier ({cache}/train.npz has no "
                     "expert_logits): point decoupled.stage1_workdir at a RIDE run (model "
                     "'ride_*', e.g. configs/cifar100_lt/ride_e3.py), or use one of "
                     f"{_others(method)}")


def fit(config: ml_collections.ConfigDict, train, val, head) -> tuple[Callable, dict[str, Any]]:
  """Fits the configured method; returns (logits_fn(split arrays) -> logits, extra results)."""
  dc = config.decoupled
  _check_method_name(dc.method)
  _check_method_fits(dc.method, dc.stage1_workdir, None, has_val=val is not None,
                     has_head=head is not None, multi_expert="expert_logits" in train)
  return METHODS[dc.method].fit(config, train, val, head)


def _read_json(path: str, fix: str) -> dict[str, Any]:
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"cannot read {path} ({type(e).__name__}: {e}): {fix}") from e


def _npz_keys(path: str, fix: str) -> set[str]:
  """The array names of an .npz (its zip directory only; no array is read)."""
  try:
    with np.load(path) as data:
      return set(data.files)
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(f"cannot read {path} ({type(e).__name__}: {e}): {fix}") from e


def _check_stage1(config: ml_collections.ConfigDict) -> None:
  """Raises, before anything is loaded, unless decoupled.stage1_workdir is a finished
  stage-1 run with a feature cache of this config's dataset that has what the method needs."""
  dc = config.decoupled
  source = dc.stage1_workdir
  rerun = ("re-run its training command to the end with --config.train.cache_features=True "
           "(in the same workdir it resumes from the last checkpoint and only writes the "
           "cache)")
  if not source:
    raise ValueError("config.decoupled.stage1_workdir is empty: set it to the workdir of a "
                     "finished stage-1 run (--config.decoupled.stage1_workdir=runs/...)")
  if not os.path.isdir(source):
    raise FileNotFoundError(f"decoupled.stage1_workdir={source!r} does not exist "
                            f"({os.path.abspath(source)}): point it at the workdir of a "
                            "finished stage-1 run, or train stage 1 there first with "
                            "train.cache_features=True")
  if not os.path.exists(os.path.join(source, "results.json")):
    raise FileNotFoundError(f"decoupled.stage1_workdir={source!r} is not a finished stage-1 "
                            f"run (no {source}/results.json): {rerun}")
  directory = os.path.join(source, "features")
  missing = [f for f in ("train.npz", "test.npz", "meta.json")
             if not os.path.exists(os.path.join(directory, f))]
  if missing:
    state = ("has no feature cache (trained with train.cache_features=False?)"
             if not os.path.isdir(directory) else
             f"has an incomplete feature cache ({', '.join(missing)} missing)")
    raise FileNotFoundError(f"decoupled.stage1_workdir={source!r} {state}: expected "
                            f"{directory}/ with train.npz, val.npz, test.npz, head.npz and "
                            f"meta.json; {rerun}")
  damaged = f"the feature cache is damaged; delete {directory} and {rerun}"
  meta = _read_json(os.path.join(directory, "meta.json"), damaged)
  cached = meta.get("dataset")
  if cached is not None and cached != config.dataset.name:
    raise ValueError(f"decoupled.stage1_workdir={source!r} cached features of dataset "
                     f"{cached!r}, but this config is for {config.dataset.name!r}: use a "
                     f"stage-2 config of dataset {cached!r}, or point "
                     f"decoupled.stage1_workdir at a {config.dataset.name!r} run")
  _check_method_fits(
      dc.method, source, meta.get("model"),
      has_val=os.path.exists(os.path.join(directory, "val.npz")),
      has_head=os.path.exists(os.path.join(directory, "head.npz")),
      multi_expert="expert_logits" in _npz_keys(os.path.join(directory, "train.npz"), damaged))
  if METHODS[dc.method].needs_experts:  # its usage report rebuilds the model (config.json)
    _read_json(os.path.join(source, "config.json"),
               f"{dc.method} rebuilds the stage-1 model from it to count flops; restore the "
               "file or re-train stage 1")


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Runs `config.decoupled.method` on the cache of `config.decoupled.stage1_workdir`."""
  config_lib.validate(config)
  finished.refuse_own_input(config, workdir)
  results_lib.ensure_writable_dir(workdir)  # fail now, not after the work
  _check_method_name(config.decoupled.method)
  _check_stage1(config)
  source = config.decoupled.stage1_workdir
  train = feature_cache.load_split(source, "train")
  val = feature_cache.load_split(source, "val")
  test = feature_cache.load_split(source, "test")
  head = feature_cache.load_head(source)
  counts = train["class_counts"]
  logits_fn, extra = fit(config, train, val, head)
  split_results = {}
  if val is not None:
    split_results["val"] = metrics.evaluate_logits(logits_fn(val), val["labels"], counts)
  test_logits = np.asarray(logits_fn(test), np.float32)
  split_results["test"] = metrics.evaluate_logits(test_logits, test["labels"], counts)
  report = METHODS[config.decoupled.method].report
  if report is not None:
    report(source, extra, counts, test)
  out = {"config": config.to_dict(), "method": config.decoupled.method,
         "stage1_workdir": os.path.abspath(source), "class_counts": counts.tolist(),
         "split_sizes": {"train": len(train["labels"]),
                         "val": 0 if val is None else len(val["labels"]),
                         "test": len(test["labels"])},
         **extra, **split_results}
  if jax.process_index() == 0:
    predictions, confidence = results_lib.predictions_from_logits(test_logits)
    results_lib.write_run_outputs(
        workdir, out, test_labels=test["labels"], predictions=predictions,
        confidence=confidence, class_counts=counts,
        title=f"{config.decoupled.method}: test top-1 {100 * split_results['test']['top1']:.1f}%")
  return out
