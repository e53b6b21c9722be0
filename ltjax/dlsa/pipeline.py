"""DLSA's progressive pipeline on frozen features (dlsa.md §1, §3).

Stage d = 1..max_depth, on the training samples still "remaining" (all at d = 1):
  1. train a fresh flow on them (`flow_training.train_flow`);
  2. log p(x) and the nearest component for every train / val / test sample;
  3. alpha_d = `likelihood_threshold` of the remaining train samples' log p(x); remaining
     samples (train, val and test alike) with log p >= alpha_d are "filtered" to this stage;
  4. the cluster prior from ALL training samples' nearest components (as the reference);
  5. a cluster-aided classifier on the filtered train samples, Balanced Softmax with their
     counts, selected on the val samples filtered to this stage;
the rest go on. The samples left after the last stage go to the regular classifier (Balanced
Softmax with the full training counts, as the reference; `regular_prior="subset"` uses its own
subset's). Routing is hard: each sample is predicted by the first head that takes it.

Classes absent from a head's training subset: `absent_classes="mask"` (ltjax default) removes
them from that head's softmax and predictions; `"reference"` keeps them with the reference's
log(0 + 1e-6) prior, so their logits stay near initialisation and can be predicted spuriously.
A stage whose filtered set is empty gets no head; a stage with fewer than `min_stage_samples`
remaining training samples ends the recursion early; samples that reach a head with no
training data fall back to the balanced-softmax linear "control" classifier trained on all
features (always trained: it is the baseline DLSA must beat). Nothing here raises for those
cases; bad inputs (non-finite features, labels outside [0, C), mismatched shapes, an empty
train or test split) raise ValueError before any training.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from absl import logging
import numpy as np

from ltjax.core import metrics
from ltjax.core import rules
from ltjax.dlsa import classifiers
from ltjax.dlsa import flow_training
from ltjax.dlsa import mixture
from ltjax.runs import feature_cache


@dataclasses.dataclass(frozen=True)
class DLSAConfig:
  """Pipeline options (defaults: the reference's ImageNet-LT CE config, max_depth 1)."""
  flow: flow_training.FlowConfig = flow_training.FlowConfig()
  max_depth: int = rules.field(1, rules.COUNT)
  proportion: float = rules.field(0.3, rules.Number(lo=0, hi=1, lo_open=True))
  # "x": the reference code (z := x); "u": the paper's figure
  cac_input: str = rules.field("x", rules.Choice(("x", "u")))
  head: str = rules.field("linear", rules.Choice(("linear", "cosine")))
  head_loss: str = rules.field("bsm", rules.Choice(("bsm", "ce")))
  head_sampler: str = rules.field("instance", rules.Choice(("instance", "class_balanced")))
  head_epochs: int = rules.field(150, rules.COUNT)
  head_batch_size: int = rules.field(128, rules.COUNT)
  head_learning_rate: float = rules.field(1e-2, rules.POSITIVE)
  head_eval_every: int = rules.field(5, rules.COUNT)
  # "keep" the partial last batch (the reference) or "drop" it
  head_last_batch: str = rules.field("keep", rules.Choice(("keep", "drop")))
  cosine_scale: float = rules.field(16.0, rules.POSITIVE)
  absent_classes: str = rules.field("mask", rules.Choice(("mask", "reference")))
  regular_prior: str = rules.field("full", rules.Choice(("full", "subset")))
  # "test" reproduces the reference's selection (never for claims)
  select_on: str = rules.field("val", rules.Choice(("val", "test")))
  min_stage_samples: int = rules.field(16, rules.COUNT)

  def __post_init__(self):
    rules.check_fields(self, "dlsa")


def _log_prior(counts: np.ndarray, loss: str, absent: str) -> np.ndarray:
  if loss == "ce":
    return np.zeros(len(counts), np.float32)
  if absent == "mask":  # absent classes are masked out, their prior value is never used
    return np.log(np.maximum(counts, 1)).astype(np.float32)
  return np.log(counts + 1e-6).astype(np.float32)


def _bucket_make_up(labels: np.ndarray, class_counts: np.ndarray) -> dict[str, float | None]:
  """Share of the samples in `labels` from many / medium / few classes."""
  buckets = metrics.bucket_of_classes(class_counts)
  # Each bucket is a boolean (C,) class mask: index it by label (np.isin against the mask
  # would test whether a label equals 0 or 1).
  return {name: (float(in_bucket[labels].mean()) if len(labels) else None)
          for name, in_bucket in buckets.items()}


def _check_splits(splits: dict[str, dict], num_classes: int) -> dict[str, dict]:
  """The splits, labels as class ids; raises ValueError naming the split before any work for
  non-finite features, rows that are not the labels', labels outside [0, C), feature dimensions
  that disagree, an empty train or test split (val may be empty)."""
  dim = np.shape(splits["train"]["features"])[-1]
  checked = {}
  for name, split in splits.items():
    where = f"dlsa {name} split"
    features = np.asarray(split["features"])
    if features.ndim != 2 or features.shape[1] != dim:
      raise ValueError(f"{where}: features have shape {features.shape} but train's are "
                       f"(N, {dim}); all splits must come from one backbone (re-extract them "
                       "together)")
    labels = feature_cache.check_labels(split["labels"], where, num_classes)
    if len(labels) != len(features):
      raise ValueError(f"{where}: 'features' has {len(features)} rows but 'labels' has "
                       f"{len(labels)}; both must hold the same samples")
    if name != "val" and not len(labels):
      raise ValueError(f"{where} is empty (0 rows); DLSA needs training and test samples")
    feature_cache.check_finite({"features": features}, where)
    checked[name] = {**split, "labels": labels}
  return checked


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float | None:
  return float((logits.argmax(-1) == labels).mean()) if len(labels) else None


def _split_or_empty(split, dim: int):
  if split is None:
    return {"features": np.zeros((0, dim), np.float32), "labels": np.zeros((0,), np.int64)}
  return split


def run_pipeline(train: dict, val: dict | None, test: dict, num_classes: int, dc: DLSAConfig,
                 *, seed: int = 0, base_logits: dict[str, np.ndarray] | None = None
                 ) -> dict[str, Any]:
  """Runs DLSA end to end.

  Args:
    train, val, test: {"features": (N, D), "labels": (N,)} (val may be None).
    num_classes: C (every split's labels must lie in [0, C)).
    dc: the options.
    seed: flows, means, pair sampling and heads derive from it.
    base_logits: optional {"val", "test"} stage-1 logits, for the per-stage gain report.

  Returns:
    {"logits": {"val", "test"} assembled (N, C) raw logits, "route": {"train", "val", "test"}
     (N,) stage index per sample (max_depth = regular classifier), "stages": per-stage report,
     "regular": its report, "control": the BSM linear classifier's {"val", "test"} logits,
     "selected_on": "val" | "test"}.
  """
  dim = np.shape(train["features"])[-1]
  splits = _check_splits({"train": train, "val": _split_or_empty(val, dim), "test": test},
                         num_classes)
  train, val, test = splits["train"], splits["val"], splits["test"]
  full_counts = np.bincount(train["labels"], minlength=num_classes)
  selection = "test" if dc.select_on == "test" else "val"
  head_kw = dict(kind=dc.head, scale=dc.cosine_scale, num_epochs=dc.head_epochs,
                 batch_size=dc.head_batch_size, learning_rate=dc.head_learning_rate,
                 sampler=dc.head_sampler, eval_every=dc.head_eval_every, seed=seed,
                 last_batch=dc.head_last_batch)

  def fit_head(inputs_by_split, index_by_split, counts, mask):
    sel_inputs = inputs_by_split[selection].take(index_by_split[selection])
    sel_labels = splits[selection]["labels"][index_by_split[selection]]

    def select_fn(params):
      if not len(sel_labels):
        return None
      logits = classifiers.predict_logits(params, sel_inputs, dc.head, dc.cosine_scale, mask)
      return _accuracy(logits, sel_labels)

    train_idx = index_by_split["train"]
    return classifiers.train_head(
        inputs_by_split["train"].take(train_idx), train["labels"][train_idx], num_classes,
        log_prior=_log_prior(counts, dc.head_loss, dc.absent_classes), mask=mask,
        select_fn=select_fn, **head_kw)

  # The control: one BSM (or CE) linear head on all features; also the fallback head.
  plain = {k: classifiers.HeadInputs(s["features"]) for k, s in splits.items()}
  everything = {k: np.arange(len(s["labels"])) for k, s in splits.items()}
  control_params, _ = fit_head(plain, everything, full_counts, None)
  control = {k: classifiers.predict_logits(control_params, plain[k], dc.head, dc.cosine_scale)
             for k in ("val", "test")}

  remaining = {k: np.ones(len(s["labels"]), bool) for k, s in splits.items()}
  route = {k: np.full(len(s["labels"]), dc.max_depth, np.int64) for k, s in splits.items()}
  logits = {k: np.zeros((len(splits[k]["labels"]), num_classes), np.float32)
            for k in ("val", "test")}

  def fit_and_place(inputs_by_split, index_by_split, counts, mask, report):
    """Trains a head on the indexed train samples (the control answers when there are none),
    writes its val/test logits into the assembled outputs and its accuracies (with the
    control's and stage 1's on the same samples) into `report`; returns the head history."""
    params, history = None, []
    if len(index_by_split["train"]):
      params, history = fit_head(inputs_by_split, index_by_split, counts, mask)
    for k in ("val", "test"):
      idx = index_by_split[k]
      out = (control[k][idx] if params is None else classifiers.predict_logits(
          params, inputs_by_split[k].take(idx), dc.head, dc.cosine_scale, mask))
      logits[k][idx] = out
      labels_k = splits[k]["labels"][idx]
      report[f"{k}_accuracy"] = _accuracy(out, labels_k)
      report[f"{k}_control_accuracy"] = _accuracy(control[k][idx], labels_k)
      if base_logits is not None and k in base_logits:
        report[f"{k}_base_accuracy"] = _accuracy(base_logits[k][idx], labels_k)
    return history

  stages, last_latent = [], None
  for depth in range(dc.max_depth):
    n_remaining = int(remaining["train"].sum())
    if n_remaining < dc.min_stage_samples:
      logging.warning("dlsa: stage %d has %d remaining training samples (< min_stage_samples "
                      "%d); the recursion stops here", depth, n_remaining, dc.min_stage_samples)
      break
    trained = flow_training.train_flow(
        train["features"][remaining["train"]], train["labels"][remaining["train"]],
        num_classes, dc.flow, seed=seed, stage=depth)
    evaluate = flow_training.make_flow_eval(trained.flow, trained.means, dc.flow.eval_chunk)
    outs = {k: evaluate(trained.variables, s["features"]) for k, s in splits.items()}
    alpha = mixture.likelihood_threshold(outs["train"][0][remaining["train"]], dc.proportion)
    filtered = {k: remaining[k] & (outs[k][0] >= alpha) for k in splits}
    prior = mixture.cluster_prior(outs["train"][1], train["labels"], dc.flow.num_clusters,
                                  num_classes)
    inputs = {k: classifiers.HeadInputs(s["features"],
                                        None if dc.cac_input == "x" else outs[k][2],
                                        outs[k][1], prior) for k, s in splits.items()}
    index = {k: np.nonzero(filtered[k])[0] for k in splits}
    sub_counts = np.bincount(train["labels"][index["train"]], minlength=num_classes)
    mask = (sub_counts > 0) if dc.absent_classes == "mask" else None
    report = {
        "stage": depth, "threshold": alpha, "flow_chosen_epoch": trained.chosen_epoch,
        "flow_skipped_steps": trained.skipped_steps, "flow_rollbacks": trained.rollbacks,
        "flow_history": trained.history,
        "remaining": {k: int(remaining[k].sum()) for k in splits},
        "filtered": {k: int(filtered[k].sum()) for k in splits},
        "filtered_fraction": {k: (float(filtered[k].sum() / remaining[k].sum())
                                  if remaining[k].sum() else None) for k in splits},
        "filtered_make_up": {k: _bucket_make_up(splits[k]["labels"][index[k]], full_counts)
                             for k in splits},
        "classes_in_subset": int((sub_counts > 0).sum()),
        "purity": mixture.purity_counts(outs["train"][1][remaining["train"]],
                                        train["labels"][remaining["train"]],
                                        dc.flow.num_clusters, num_classes),
    }
    if not len(index["train"]):
      logging.warning("dlsa: stage %d kept no training samples; its val/test samples fall back "
                      "to the control classifier", depth)
    report["head_history"] = fit_and_place(inputs, index, sub_counts, mask, report)
    for k in splits:
      route[k][index[k]] = depth
      remaining[k] &= ~filtered[k]
    last_latent = {k: outs[k][2] for k in splits}
    stages.append(report)
    logging.info("dlsa stage %d: threshold %.4g, filtered %s", depth, alpha, report["filtered"])

  # The regular classifier on whatever is left.
  index = {k: np.nonzero(remaining[k])[0] for k in splits}
  use_u = dc.cac_input == "u" and last_latent is not None
  inputs = {k: classifiers.HeadInputs(s["features"], last_latent[k] if use_u else None)
            for k, s in splits.items()}
  regular_counts = (full_counts if dc.regular_prior == "full" else
                    np.bincount(train["labels"][index["train"]], minlength=num_classes))
  regular = {"remaining": {k: int(len(v)) for k, v in index.items()}}
  sub_counts = np.bincount(train["labels"][index["train"]], minlength=num_classes)
  mask = (sub_counts > 0) if dc.absent_classes == "mask" else None
  fit_and_place(inputs, index, regular_counts, mask, regular)
  return {"logits": logits, "route": route, "stages": stages, "regular": regular,
          "control": control, "selected_on": selection}
