r"""DLSA variants vs the stage-1 classifier and a balanced-softmax linear control, several seeds.

  python experiments/run_dlsa.py --config configs/dlsa/digits_lt_ce.py \
      --features runs/digits_ce_s0,runs/digits_ce_s1,runs/digits_ce_s2 --seeds 0,1,2 \
      --out experiments/results/dlsa_digits.md

`--features` gives one stage-1 workdir per seed (or one for all seeds: then only DLSA's own
seed varies). Each variant is a set of `config.dlsa` overrides (see VARIANTS). Every number is
on test with heads selected on the validation split; the stage-1 and control rows come from the
same runs. Writes a markdown table (mean ± std over seeds) and per-stage filtered fractions.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from ltjax.core import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position

VARIANTS = {  # name: depth, flow kind, what the cluster-aided classifier sees as z
    "dlsa-depth1-maf-x": {"max_depth": 1, "flow.kind": "maf", "cac_input": "x"},
    "dlsa-depth3-maf-x": {"max_depth": 3, "flow.kind": "maf", "cac_input": "x"},
    "dlsa-depth1-coupling-x": {"max_depth": 1, "flow.kind": "coupling", "cac_input": "x"},
    "dlsa-depth1-maf-u": {"max_depth": 1, "flow.kind": "maf", "cac_input": "u"},
}


def load_config(path):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(REPO, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _set(config, dotted, value):
  *parents, leaf = dotted.split(".")
  node = config.dlsa
  for p in parents:
    node = node[p]
  node[leaf] = value


def _ms(values):
  values = [v for v in values if v is not None]
  if not values:
    return "empty"
  mean, std = metrics.mean_and_std(values)
  return f"{100 * mean:.2f}" if std is None else f"{100 * mean:.2f} ± {100 * std:.2f}"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--features", required=True)
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--variants", default=",".join(VARIANTS))
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  from ltjax.dlsa import stage  # pylint: disable=g-import-not-at-top
  seeds = [int(s) for s in args.seeds.split(",")]
  features = args.features.split(",")
  if len(features) == 1:
    features *= len(seeds)
  rows = {"stage-1 classifier": [], "BSM linear control (all features)": []}
  fractions = {}
  timing = {}
  for name in args.variants.split(","):
    rows[name] = []
    fractions[name] = []
    seconds = []
    for seed, path in zip(seeds, features):
      config = load_config(args.config)
      config.seed = seed
      for key, value in VARIANTS[name].items():
        _set(config, key, value)
      start = time.time()
      r = stage.evaluate_features(config, path)
      seconds.append(time.time() - start)
      rows[name].append(r["test"])
      fractions[name].append([(s["filtered_fraction"]["train"], s["filtered_fraction"]["test"])
                              for s in r["stages"]])
      if len(rows["stage-1 classifier"]) < len(seeds) and name == args.variants.split(",")[0]:
        rows["stage-1 classifier"].append(r["baselines"]["stage1"]["test"])
        rows["BSM linear control (all features)"].append(
            r["baselines"]["control_bsm_linear"]["test"])
      print(f"{name} seed {seed}: test {100 * r['test']['top1']:.2f} "
            f"({seconds[-1]:.0f} s)", flush=True)
    timing[name] = np.mean(seconds)
  lines = [f"# DLSA on `{args.config}` features", "",
           f"Written {datetime.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
           f"({platform.machine()}, {os.cpu_count()} cores).", "", "Command:", "", "```",
           "python " + " ".join(sys.argv), "```", "",
           f"Test accuracy (%), mean ± std over seeds {seeds} (sample std, ddof=1); every "
           "head selected on the "
           "validation split.", "",
           "| classifier | top-1 | many | medium | few | ECE | s / run |",
           "|---|---|---|---|---|---|---|"]
  for name, results in rows.items():
    cells = [_ms([r[k] for r in results]) for k in ("top1", "many", "medium", "few", "ece")]
    lines.append(f"| {name} | " + " | ".join(cells) +
                 f" | {timing.get(name, float('nan')):.0f} |")
  lines += ["", "Filtered fraction of the remaining samples per stage, train / test (mean over "
            "seeds):", "", "| variant | stage fractions |", "|---|---|"]
  for name, per_seed in fractions.items():
    depth = min(len(f) for f in per_seed)
    cells = []
    for d in range(depth):
      tr = np.mean([f[d][0] for f in per_seed])
      te = np.mean([f[d][1] for f in per_seed if f[d][1] is not None])
      cells.append(f"stage {d + 1}: {100 * tr:.1f} / {100 * te:.1f}")
    lines.append(f"| {name} | " + "; ".join(cells) + " |")
  text = "\n".join(lines) + "\n"
  print(text)
  if args.out:
    with open(args.out, "w") as f:
      f.write(text)


if __name__ == "__main__":
  main()
