"""What a finished run leaves behind: results.json, a printed table, a per-class plot."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from ltjax import metrics as metrics_lib


def write_json_atomically(path: str, payload: dict[str, Any]) -> None:
  """Writes JSON to a temporary file in the same directory, then renames it over `path`."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
  with os.fdopen(fd, "w", encoding="utf-8") as f:
    json.dump(payload, f, indent=2)
  os.replace(tmp, path)


def _pct(value) -> str:
  return "  empty" if value is None else f"{100 * value:6.2f}"


def format_table(split_results: dict[str, dict[str, Any]]) -> str:
  """A fixed-width table: one row per split, top-1 / many / medium / few in %, ECE, NLL."""
  header = f"{'split':<6} {'top1':>7} {'many':>7} {'medium':>7} {'few':>7} {'ECE':>7} {'NLL':>7}"
  lines = [header, "-" * len(header)]
  for name, r in split_results.items():
    lines.append(f"{name:<6} {_pct(r['top1']):>7} {_pct(r['many']):>7} {_pct(r['medium']):>7}"
                 f" {_pct(r['few']):>7} {100 * r['ece']:>7.2f} {r['nll']:>7.3f}")
  sizes = next(iter(split_results.values()))["bucket_sizes"]
  lines.append(f"classes per bucket (by training count, many >{metrics_lib.MANY_THRESHOLD}, "
               f"few <{metrics_lib.FEW_THRESHOLD}): many {sizes['many']}, "
               f"medium {sizes['medium']}, few {sizes['few']}; ECE in % (15 bins)")
  return "\n".join(lines)


def plot_per_class_accuracy(path: str, class_counts: np.ndarray, per_class: list,
                            title: str) -> None:
  """Per-class accuracy (classes sorted by training count) over the training-count bars."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  order = np.argsort(-np.asarray(class_counts), kind="stable")
  counts = np.asarray(class_counts)[order]
  acc = np.array([np.nan if per_class[i] is None else 100 * per_class[i] for i in order])
  x = np.arange(len(order))
  fig, ax_count = plt.subplots(figsize=(8, 4), dpi=100)
  ax_count.bar(x, counts, color="0.8", label="training images")
  ax_count.set_yscale("log")
  ax_count.set_xlabel("class rank by training count (head → tail)")
  ax_count.set_ylabel("training images (log scale)")
  ax_acc = ax_count.twinx()
  ax_acc.plot(x, acc, "o-", color="tab:blue", markersize=3, label="test accuracy")
  ax_acc.set_ylabel("per-class accuracy (%)")
  ax_acc.set_ylim(0, 100)
  ax_count.set_title(title)
  fig.legend(loc="upper right", bbox_to_anchor=(0.88, 0.88))
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
