r"""DLSA as a feature evaluation: run the pipeline on several feature caches, one table and plot
per cache, and a summary across caches.

  python -m ltjax.dlsa.feature_report --config configs/dlsa/cifar10_lt_ce.py \
      --features runs/cifar10_ce --features runs/cifar10_bsm --out runs/dlsa_features

Per stage it reports the filtered fraction on train and test, the many/medium/few make-up of
the filtered samples, the flow's cluster purity counts on the stage's training subset, the
accuracy of the stage's head on its test samples beside the control (balanced-softmax linear
on all features) and the stage-1 classifier on the same samples; then the overall gain. It does
not condense these into one "feature score" (the paper's exact metric is not known to us).
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
from ml_collections import config_flags
import numpy as np

import ltjax.methods  # pylint: disable=unused-import  (registers the installed method rooms)
from ltjax.core import cli
from ltjax.dlsa import features as features_lib
from ltjax.dlsa import stage
from ltjax.runs import results as results_lib

_PROG = "ltjax.dlsa.feature_report"
_CONFIG = config_flags.DEFINE_config_file("config", None, "a DLSA config file",
                                          lock_config=True)
_FEATURES = flags.DEFINE_multi_string("features", [], "feature cache / folder (repeatable)")
_OUT = flags.DEFINE_string("out", None, "output directory")


def _pct(x):
  return "-" if x is None else f"{100 * x:.1f}"


def stage_rows(result: dict) -> list[str]:
  """Markdown rows, one per stage and one for the regular classifier."""
  rows = ["| stage | filtered train / test | train many/med/few % | test many/med/few % | "
          "purity >0.9/0.7/0.5 | head acc (test) | control acc | stage-1 acc |",
          "|---|---|---|---|---|---|---|---|"]
  for s in result["stages"]:
    mk = lambda k: "/".join(_pct(s["filtered_make_up"][k][b]) for b in ("many", "medium", "few"))
    purity = "/".join(str(v) for v in s["purity"].values())
    rows.append(f"| {s['stage'] + 1} | {_pct(s['filtered_fraction']['train'])} / "
                f"{_pct(s['filtered_fraction']['test'])} | {mk('train')} | {mk('test')} | "
                f"{purity} | {_pct(s['test_accuracy'])} | {_pct(s['test_control_accuracy'])} | "
                f"{_pct(s.get('test_base_accuracy'))} |")
  r = result["regular"]
  rows.append(f"| regular | {r['remaining']['train']} / {r['remaining']['test']} samples | | | | "
              f"{_pct(r['test_accuracy'])} | {_pct(r['test_control_accuracy'])} | "
              f"{_pct(r.get('test_base_accuracy'))} |")
  return rows


def plot(result: dict, path: str) -> None:
  """Filtered fraction per stage (train, test) and the make-up of each filtered set."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  stages = result["stages"]
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
  x = np.arange(len(stages))
  for i, split in enumerate(("train", "test")):
    axes[0].bar(x + 0.4 * i, [s["filtered_fraction"][split] or 0 for s in stages], 0.4,
                label=split)
    bottom = np.zeros(len(stages))
    for j, bucket in enumerate(("many", "medium", "few")):
      values = np.array([s["filtered_make_up"][split][bucket] or 0 for s in stages])
      axes[1].bar(x + 0.4 * i, values, 0.4, bottom=bottom, color=f"C{j}",
                  label=bucket if i == 0 else None, hatch="" if split == "train" else "//")
      bottom += values
  axes[0].set(title="filtered fraction of the remaining samples", xticks=x + 0.2,
              xticklabels=[f"stage {s['stage'] + 1}" for s in stages])
  axes[1].set(title="make-up of the filtered samples (plain: train, hatched: test)",
              xticks=x + 0.2, xticklabels=[f"stage {s['stage'] + 1}" for s in stages])
  axes[0].legend()
  axes[1].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write_report(config, paths: list[str], out: str) -> str:
  """Runs DLSA on each feature set in `paths` and writes `<out>/<i>_<name>.{json,md,png}` and
  `<out>/summary.md`; returns the summary text. Every feature set is loaded and checked
  before any of them is run, so a bad one fails the command before any work."""
  if len(paths) > 1:  # a single set is checked by its own run, before any training
    for path in paths:
      features_lib.load(path, val_holdout_fraction=config.dlsa.val_holdout_fraction,
                        seed=config.seed)
  summary = ["| features | DLSA top-1 | control top-1 | stage-1 top-1 | gain over control | "
             "gain over stage-1 |", "|---|---|---|---|---|---|"]
  for i, path in enumerate(paths):
    result = stage.evaluate_features(config, path)
    for key in ("_test_route", "_test_logits", "_test_labels"):
      result.pop(key)
    name = f"{i}_{os.path.basename(os.path.normpath(path))}"
    os.makedirs(out, exist_ok=True)  # only once a result exists: a bad input writes nothing
    # Strict JSON: a non-finite number becomes null with its reason under "null_reasons".
    results_lib.write_json_atomically(os.path.join(out, f"{name}.json"), result)
    plot(result, os.path.join(out, f"{name}.png"))
    top1 = result["test"]["top1"]
    control = result["baselines"]["control_bsm_linear"]["test"]["top1"]
    base = result["baselines"].get("stage1", {}).get("test", {}).get("top1")
    with open(os.path.join(out, f"{name}.md"), "w") as f:
      f.write(f"# DLSA on {path}\n\nselected on {result['selected_on']}; test top-1 "
              f"{_pct(top1)} (control {_pct(control)}, stage-1 {_pct(base)})\n\n"
              + "\n".join(stage_rows(result)) + "\n")
    summary.append(f"| `{path}` | {_pct(top1)} | {_pct(control)} | {_pct(base)} | "
                   f"{100 * (top1 - control):+.1f} | "
                   f"{'-' if base is None else f'{100 * (top1 - base):+.1f}'} |")
  text = "\n".join(summary) + "\n"
  with open(os.path.join(out, "summary.md"), "w") as f:
    f.write(text)
  return text


def main(argv):
  del argv
  if not _FEATURES.value:
    raise app.UsageError("give at least one --features")
  with cli.user_errors_as_one_sentence(_PROG):
    print(write_report(cli.config_value(_CONFIG, _PROG), _FEATURES.value, _OUT.value))


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "out"])
  app.run(main, flags_parser=cli.parse_flags(_PROG))
