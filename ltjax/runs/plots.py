"""The long-tail pictures (matplotlib, headless): one function per figure, each writing a PNG."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from ltjax.core import metrics


def _save(fig, path: str) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def class_counts(path: str, counts: Sequence[int], title: str = "training images per class"):
  """Bar chart of training counts, head to tail, log scale."""
  counts = np.sort(np.asarray(counts))[::-1]
  fig, ax = plt.subplots(figsize=(7, 3.5))
  ax.bar(np.arange(len(counts)), np.maximum(counts, 0.8), width=1.0, color="tab:gray")
  ax.set_yscale("log")
  ax.set_xlabel("class rank by training count (head → tail)")
  ax.set_ylabel("training images (log)")
  ax.set_title(title)
  return _save(fig, path)


def per_class_accuracy(path: str, counts: Sequence[int], per_class: Sequence[float | None],
                       title: str):
  """Per-class accuracy against training count (log x), buckets shaded."""
  counts = np.asarray(counts, np.float64)
  acc = np.array([np.nan if a is None else 100 * a for a in per_class])
  fig, ax = plt.subplots(figsize=(7, 4))
  ax.axvspan(0.8, metrics.FEW_THRESHOLD, color="tab:red", alpha=0.08, label="few (<20)")
  ax.axvspan(metrics.FEW_THRESHOLD, metrics.MANY_THRESHOLD, color="tab:orange", alpha=0.08,
             label="medium (20-100)")
  ax.axvspan(metrics.MANY_THRESHOLD, max(counts.max() * 1.3, 120), color="tab:green",
             alpha=0.08, label="many (>100)")
  ax.scatter(np.maximum(counts, 1), acc, s=14, color="tab:blue", label="classes")
  ax.set_xscale("log")
  ax.set_ylim(-2, 102)
  ax.set_xlabel("training images of the class (log)")
  ax.set_ylabel("test accuracy of the class (%)")
  ax.set_title(title)
  ax.legend(loc="lower right", fontsize=8)
  return _save(fig, path)


def binned_confusion(path: str, confusion: dict[str, np.ndarray], title: str):
  """Heat map of where wrong predictions go, classes binned head → tail."""
  rate = 100 * confusion["rate"]
  n = rate.shape[0]
  fig, ax = plt.subplots(figsize=(5.5, 4.8))
  image = ax.imshow(rate, cmap="Reds", vmin=0)
  fig.colorbar(image, ax=ax, label="% of the true bin's test images")
  ax.set_xticks(range(n))
  ax.set_yticks(range(n))
  ax.set_xlabel("predicted class bin (head → tail)")
  ax.set_ylabel("true class bin (head → tail)")
  ax.set_title(title, fontsize=10)
  if n <= 10:
    for i in range(n):
      for j in range(n):
        if rate[i, j] >= 0.5:
          ax.text(j, i, f"{rate[i, j]:.0f}", ha="center", va="center", fontsize=7)
  return _save(fig, path)


def reliability(path: str, reliability_bins: dict[str, Any], ece: float, title: str):
  """Reliability diagram: accuracy per confidence bin against the diagonal."""
  acc = [np.nan if a is None else a for a in reliability_bins["accuracy"]]
  n = len(acc)
  centers = (np.arange(n) + 0.5) / n
  fig, ax = plt.subplots(figsize=(4.5, 4.5))
  ax.bar(centers, acc, width=1.0 / n, edgecolor="black", color="tab:blue", alpha=0.7,
         label="accuracy")
  ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1)
  ax.set_xlabel("confidence (max softmax)")
  ax.set_ylabel("accuracy")
  ax.set_title(f"{title}\nECE {100 * ece:.2f}% (15 bins)", fontsize=10)
  ax.legend(loc="upper left", fontsize=8)
  return _save(fig, path)


def training_curves(path: str, rows_by_run: dict[str, list[dict]], keys: Sequence[str]):
  """One panel per metric key (e.g. train/loss, val/top1) with a line per run."""
  fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
  for ax, key in zip(axes[0], keys):
    for name, rows in rows_by_run.items():
      points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
      if points:
        steps, values = zip(*points)
        ax.plot(steps, values, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
  if len(rows_by_run) > 1:
    axes[0][-1].legend(fontsize=7)
  return _save(fig, path)


def expert_usage(path: str, routing: dict[str, Any]):
  """RIDE routing: share of test samples and their accuracy per number of experts used."""
  shares = 100 * np.asarray(routing["share_by_num_experts"])
  k = np.arange(1, len(shares) + 1)
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.bar(k, shares, color="tab:purple", alpha=0.7, label="share of samples")
  ax.set_xlabel("experts used")
  ax.set_ylabel("share of test samples (%)")
  ax.set_xticks(k)
  if routing.get("accuracy_by_num_experts"):
    acc = [np.nan if a is None else 100 * a for a in routing["accuracy_by_num_experts"]]
    twin = ax.twinx()
    twin.plot(k, acc, "o-", color="black", label="accuracy")
    twin.set_ylabel("accuracy of those samples (%)")
    twin.set_ylim(0, 100)
  ax.set_title(f"mean experts {routing['mean_experts']:.2f}, "
               f"{routing['mean_flops_per_image'] / 1e6:.1f} MFLOPs/image", fontsize=10)
  return _save(fig, path)
