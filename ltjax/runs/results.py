"""What a finished run leaves behind: results.json, a printed table, a per-class plot."""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ltjax.core import metrics as metrics_lib

# Printed under the results of a `:smoke` run (`config.debug.smoke`) and in a smoke table.
SMOKE_CAVEAT = ("note: a :smoke run (tiny model, 2 epochs of 3 steps): its numbers test the "
                "plumbing, not the method")


def is_smoke(config) -> bool:
  """Whether a config (a ConfigDict or its dict) is a `:smoke` one (`config.debug.smoke`)."""
  debug = config.get("debug") or {}
  return bool(debug.get("smoke", False))


def strict_json_payload(payload: Any) -> tuple[Any, dict[str, str]]:
  """`payload` with numpy scalars / arrays as Python values and every non-finite float as None.

  Returns the cleaned payload and {dotted.path: reason} for each value that was replaced, so a
  NaN metric reaches the file as null with the reason beside it, never as the invalid `NaN`.
  """
  reasons: dict[str, str] = {}

  def clean(value, path):
    if isinstance(value, dict):
      return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
      return [clean(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
      return clean(value.tolist(), path)
    if isinstance(value, (np.bool_, bool)):
      return bool(value)
    if isinstance(value, np.integer):
      return int(value)
    if isinstance(value, (float, np.floating)):
      if not math.isfinite(value):
        reasons[path] = f"the value was {float(value)} (not a finite number)"
        return None
      return float(value)
    return value

  return clean(payload, ""), reasons


def write_json_atomically(path: str, payload: dict[str, Any]) -> None:
  """Writes strict JSON (no NaN / Infinity) through a temporary file renamed over `path`.

  A non-finite number becomes null and its reason is recorded under `"null_reasons"`.
  """
  cleaned, reasons = strict_json_payload(payload)
  if reasons:
    cleaned = {**cleaned, "null_reasons": {**cleaned.get("null_reasons", {}), **reasons}}
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      json.dump(cleaned, f, indent=2, allow_nan=False)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def ensure_writable_dir(directory: str) -> None:
  """Proves that `directory` can be written (or created: then its nearest existing parent is
  probed, and nothing is left behind), so a run fails at start, not after its first epoch,
  when it cannot write its checkpoints and results."""
  probe_dir = os.path.abspath(directory)
  while not os.path.exists(probe_dir):
    probe_dir = os.path.dirname(probe_dir)
  try:
    if not os.path.isdir(probe_dir):
      raise NotADirectoryError(20, "Not a directory", probe_dir)
    fd, probe = tempfile.mkstemp(dir=probe_dir, prefix=".ltjax_write_probe")
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    raise PermissionError(f"cannot write to the workdir {directory!r} ({e.strerror}); choose a "
                          "--workdir you can write to") from e


def write_predictions(workdir: str, labels, predictions, confidence) -> None:
  """`<workdir>/test_predictions.npz`: labels, argmax predictions and max-softmax confidence
  of the test split (read by `ltjax.runs.report` for the confusion and reliability pictures)."""
  path = os.path.join(workdir, "test_predictions.npz")
  tmp = path + ".tmp.npz"
  np.savez(tmp, labels=np.asarray(labels, np.int32),
           predictions=np.asarray(predictions, np.int32),
           confidence=np.asarray(confidence, np.float32))
  os.replace(tmp, path)


def format_pct(value) -> str:
  """A fraction as a percentage cell; "empty" for an empty bucket (None)."""
  return "  empty" if value is None else f"{100 * value:6.2f}"


def format_table(split_results: dict[str, dict[str, Any]]) -> str:
  """A fixed-width table: one row per split, top-1 / many / medium / few in %, ECE, NLL."""
  header = f"{'split':<6} {'top1':>7} {'many':>7} {'medium':>7} {'few':>7} {'ECE':>7} {'NLL':>7}"
  lines = [header, "-" * len(header)]
  for name, r in split_results.items():
    cells = " ".join(f"{format_pct(r[k]):>7}" for k in ("top1", "many", "medium", "few"))
    lines.append(f"{name:<6} {cells} {100 * r['ece']:>7.2f} {r['nll']:>7.3f}")
  sizes = next(iter(split_results.values()))["bucket_sizes"]
  lines.append(f"classes per bucket (by training count, many >{metrics_lib.MANY_THRESHOLD}, "
               f"few <{metrics_lib.FEW_THRESHOLD}): many {sizes['many']}, "
               f"medium {sizes['medium']}, few {sizes['few']}; ECE in % (15 bins)")
  return "\n".join(lines)


def plot_per_class_accuracy(path: str, class_counts: np.ndarray, per_class: list,
                            title: str) -> None:
  """Per-class test accuracy against the training count (`ltjax.runs.plots.per_class_accuracy`)."""
  from ltjax.runs import plots  # pylint: disable=g-import-not-at-top  (matplotlib only when asked)
  plots.per_class_accuracy(path, class_counts, per_class, title)


def predictions_from_logits(logits) -> tuple[np.ndarray, np.ndarray]:
  """(argmax predictions, max-softmax confidence) of (N, C) logits."""
  probs = np.asarray(jax.nn.softmax(jnp.asarray(logits)))
  return probs.argmax(-1), probs.max(-1)


def write_run_outputs(workdir: str, results: dict[str, Any], *, test_labels, predictions,
                      confidence, class_counts, title: str, show: bool = True) -> None:
  """What every finished stage leaves (call on process 0): results.json (strict), the test
  predictions, the per-class plot, and (`show`) the printed table of its val / test
  results."""
  os.makedirs(workdir, exist_ok=True)
  write_json_atomically(os.path.join(workdir, "results.json"), results)
  write_predictions(workdir, test_labels, predictions, confidence)
  plot_per_class_accuracy(os.path.join(workdir, "per_class_accuracy.png"),
                          np.asarray(class_counts), results["test"]["per_class"], title)
  if show:
    print(format_table({k: results[k] for k in ("val", "test") if k in results}), flush=True)
    if is_smoke(results.get("config") or {}):
      print(SMOKE_CAVEAT, flush=True)
