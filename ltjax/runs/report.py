r"""A run report from finished workdirs: the long-tail pictures and tables, no code needed.

  python -m ltjax.report runs/digits_ce --out reports/digits_ce
  python -m ltjax.report runs/seeds/ce_s0 runs/seeds/ce_s1 runs/seeds/ldam_drw_s0 --out reports/cmp

One workdir: `index.md` with the resolved config, class counts, per-class accuracy against
training count, the head-to-tail binned confusion matrix (errors only), the reliability
diagram, many/medium/few with bucket sizes, training curves, and the method's own pictures
(RIDE routing: share and accuracy per number of experts; decoupled stage 2: the tuned tau).
Several workdirs: a comparison table first (mean ± std over workdirs whose configs differ only
by seed), overlaid curves, then one section per workdir.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any
import zipfile

import numpy as np

from ltjax.core import cli
from ltjax.core import metrics
from ltjax.runs import plots

# What the report reads from every results.json (a training or a stage-2 run writes them).
_REQUIRED_SPLIT = ("top1", "many", "medium", "few", "ece", "nll", "bucket_sizes", "per_class",
                   "reliability")
_RERUN = ("rerun its training command to finish it (it resumes from its last checkpoint and "
          "rewrites the results)")


def _missing_keys(results: Any) -> list[str]:
  """The keys the report needs that `results` lacks, dotted."""
  if not isinstance(results, dict):
    return ["everything (not a JSON object)"]
  missing = [k for k in ("config", "class_counts", "test") if k not in results]
  if "config" in results:
    dataset = results["config"].get("dataset") if isinstance(results["config"], dict) else None
    if not isinstance(dataset, dict) or "name" not in dataset:
      missing.append("config.dataset.name")
  for split in ("val", "test"):
    if isinstance(results.get(split), dict):
      missing += [f"{split}.{k}" for k in _REQUIRED_SPLIT if k not in results[split]]
  return missing


def _read_results(workdir: str) -> dict[str, Any]:
  """The parsed results.json of `workdir`; raises naming the workdir and the fix."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"workdir {workdir} does not exist: pass the --workdir of a "
                            "finished ltjax run")
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: ltjax.report needs finished workdirs, and "
                            f"the run in {workdir} is not finished: {_RERUN}")
  try:
    with open(path, encoding="utf-8") as f:
      results = json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"{path} is not valid JSON ({type(e).__name__}: {e}): the results of "
                     f"the run in {workdir} are damaged; {_RERUN}") from e
  missing = _missing_keys(results)
  if missing:
    raise ValueError(f"{path} lacks {', '.join(missing)}: not the results.json of a finished "
                     f"ltjax training or stage-2 run; {_RERUN}")
  return results


def _read_rows(workdir: str) -> list[dict[str, Any]]:
  """metrics.jsonl rows; a line cut short by a killed (then resumed) run is skipped, said."""
  log = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(log):
    return []
  rows, skipped = [], []
  with open(log, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      if line.strip():
        try:
          rows.append(json.loads(line))
        except ValueError:
          skipped.append(number)
  if skipped:
    print(f"ltjax.report: skipped unreadable line(s) {skipped} of {log} (a run killed "
          "mid-write); the curves omit them", file=sys.stderr)
  return rows


def _read_predictions(workdir: str) -> dict[str, np.ndarray] | None:
  preds = os.path.join(workdir, "test_predictions.npz")
  if not os.path.exists(preds):
    return None
  try:
    with np.load(preds) as data:
      return {k: data[k] for k in data.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(f"cannot read {preds} ({type(e).__name__}: {e}): the file is damaged; "
                     "delete it (the report then leaves out the confusion picture) or "
                     f"{_RERUN}") from e


def load_run(workdir: str) -> dict[str, Any]:
  """results.json, metrics.jsonl rows and test predictions of a finished workdir."""
  run = {"workdir": workdir, "results": _read_results(workdir), "rows": _read_rows(workdir)}
  predictions = _read_predictions(workdir)
  if predictions is not None:
    run["predictions"] = predictions
  return run


def _pct(x) -> str:
  return "empty" if x is None else f"{100 * x:.2f}"


def _num(x, scale: float, digits: int) -> str:
  """A metric that may be null in results.json (non-finite, its reason under null_reasons)."""
  return "null" if x is None else f"{scale * x:.{digits}f}"


def _bucket_table(results: dict[str, Any]) -> str:
  lines = ["| split | top-1 | many | medium | few | ECE | NLL |", "|---|---|---|---|---|---|---|"]
  for split in ("val", "test"):
    if split in results:
      r = results[split]
      lines.append(f"| {split} | {_pct(r['top1'])} | {_pct(r['many'])} | {_pct(r['medium'])} "
                   f"| {_pct(r['few'])} | {_num(r['ece'], 100, 2)} | {_num(r['nll'], 1, 3)} |")
  sizes = results["test"]["bucket_sizes"]
  lines.append(f"\nClasses per bucket (training counts; many > 100, few < 20): many "
               f"{sizes['many']}, medium {sizes['medium']}, few {sizes['few']}.")
  return "\n".join(lines)


def run_section(run: dict[str, Any], out_dir: str, name: str) -> str:
  """Writes one workdir's PNGs under out_dir/name/ and returns its markdown."""
  r = run["results"]
  img_dir = os.path.join(out_dir, name)
  os.makedirs(img_dir, exist_ok=True)
  counts = np.asarray(r["class_counts"])
  md = [f"## {name}", "", f"Workdir `{run['workdir']}`; "
        f"{r['config']['dataset']['name']}, {len(counts)} classes, "
        f"{int(counts.sum())} training images.", "", _bucket_table(r), ""]
  pictures = [("class_counts.png", "Training images per class",
               lambda p: plots.class_counts(p, counts)),
              ("per_class_accuracy.png", "Per-class test accuracy vs training count",
               lambda p: plots.per_class_accuracy(p, counts, r["test"]["per_class"],
                                                  f"{name}: per-class accuracy")),
              ("reliability.png", "Reliability diagram (test)",
               lambda p: plots.reliability(p, r["test"]["reliability"], r["test"]["ece"],
                                           name))]
  if "predictions" in run:
    pr = run["predictions"]
    conf = metrics.binned_confusion(pr["labels"], pr["predictions"], counts)
    pictures.append(("confusion_head_to_tail.png",
                     "Where the errors go: classes binned head → tail "
                     f"({', '.join(str(int(b)) for b in conf['bin_sizes'])} classes per bin)",
                     lambda p: plots.binned_confusion(p, conf, f"{name}: test errors")))
  if run["rows"]:
    keys = [k for k in ("train/loss", "train/accuracy", "val/top1")
            if any(k in row for row in run["rows"])]
    pictures.append(("curves.png", "Training curves",
                     lambda p: plots.training_curves(p, {name: run["rows"]}, keys)))
  if "routing" in r:
    pictures.append(("expert_usage.png", "RIDE routing: experts used per test sample",
                     lambda p: plots.expert_usage(p, r["routing"])))
  for filename, caption, draw in pictures:
    draw(os.path.join(img_dir, filename))
    md += [f"**{caption}**", "", f"![{caption}]({name}/{filename})", ""]
  if "tuned" in r:
    md += [f"Tuned on val: tau = {r['tuned']['tau']:g} (val top-1 by tau: " +
           ", ".join(f"{t:g}: {100 * v:.1f}" for t, v in r["tuned"]["val_top1_by_tau"].items())
           + ")", ""]
  if "routing" in r:
    ro = r["routing"]
    md += [f"Routing: mean experts {ro['mean_experts']:.2f}; shares "
           f"{', '.join(f'{100 * s:.1f}%' for s in ro['share_by_num_experts'])}; "
           f"{ro['mean_flops_per_image'] / 1e6:.2f} MFLOPs/image (XLA cost analysis; all "
           f"experts: {ro['flops_per_image_by_num_experts'][-1] / 1e6:.2f}).", ""]
  md += ["<details><summary>Resolved config</summary>", "", "```json",
         json.dumps(r["config"], indent=1), "```", "</details>", ""]
  return "\n".join(md)


def _group_key(results: dict[str, Any]) -> str:
  config = dict(results["config"])
  config.pop("seed", None)
  return json.dumps(config, sort_keys=True, default=str)


def comparison_table(runs: list[dict[str, Any]], names: list[str]) -> str:
  """Mean ± std of the test metrics over runs that differ only by seed."""
  groups: dict[str, list[int]] = {}
  for i, run in enumerate(runs):
    groups.setdefault(_group_key(run["results"]), []).append(i)

  def cell(values):
    values = [v for v in values if v is not None]
    if not values:
      return "empty"
    v = 100 * np.asarray(values)
    return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

  lines = ["| run | seeds | test top-1 | many | medium | few | ECE |",
           "|---|---|---|---|---|---|---|"]
  for members in groups.values():
    label = re.sub(r"_s\d+$", "", names[members[0]])
    tests = [runs[i]["results"]["test"] for i in members]
    lines.append(f"| {label} | {len(members)} | " + " | ".join(
        cell([t[k] for t in tests]) for k in ("top1", "many", "medium", "few", "ece")) + " |")
  return "\n".join(lines)


def build_report(workdirs: list[str], out_dir: str) -> str:
  """Writes out_dir/index.md (+ PNGs) and returns its path."""
  return _write_report([load_run(w) for w in workdirs], workdirs, out_dir)


def _write_report(runs: list[dict[str, Any]], workdirs: list[str], out_dir: str) -> str:
  """build_report once every workdir has been read (nothing is written before)."""
  os.makedirs(out_dir, exist_ok=True)
  names, seen = [], {}
  for w in workdirs:
    base = os.path.basename(os.path.normpath(w)) or "run"
    seen[base] = seen.get(base, 0) + 1
    names.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
  md = ["# ltjax report", ""]
  if len(runs) > 1:
    md += ["## Comparison", "", comparison_table(runs, names), ""]
    curves = {n: r["rows"] for n, r in zip(names, runs) if r["rows"]}
    if curves:
      plots.training_curves(os.path.join(out_dir, "curves_all.png"), curves,
                            ["train/loss", "val/top1"])
      md += ["![curves of every run](curves_all.png)", ""]
  for run, name in zip(runs, names):
    md.append(run_section(run, out_dir, name))
  path = os.path.join(out_dir, "index.md")
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(md))
  return path


def main(argv=None):
  parser = argparse.ArgumentParser(description="Report of finished ltjax workdirs.")
  parser.add_argument("workdirs", nargs="+")
  parser.add_argument("--out", required=True, help="output directory (index.md + PNGs)")
  args = parser.parse_args(argv)
  with cli.user_errors_as_one_sentence("ltjax.report"):
    try:
      runs = [load_run(w) for w in args.workdirs]
    except OSError as e:  # a bad workdir (not only a missing one): its one-line reason
      if cli.traceback_wanted():
        raise
      cli.fail("ltjax.report", f"{type(e).__name__}: {e}")
    print(_write_report(runs, args.workdirs, args.out))


if __name__ == "__main__":
  main()
