r"""The category-extrapolation demonstration (granularity.md §8): variants (a)-(d) x seeds.

  python experiments/run_extrapolation.py --dataset digits --seeds 0,1,2 \
      --root runs/extrapolation --out experiments/results/extrapolation_digits_cpu.md
  python experiments/run_extrapolation.py --dataset cifar10 --data-dir ../shared/data ...

Each run is `python -m ltjax.main --config configs/granularity/<dataset>_lt_5plus5.py:<variant>`
in a subprocess (finished workdirs are reused). The table gives test accuracy (%) on the target
classes of the validation-selected weights, mean ± std over the training seeds, and what each
variant trained with (auxiliary classes, images per epoch, the neighbour table).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_seeds  # pylint: disable=g-import-not-at-top,wrong-import-position

CONFIGS = {"digits": "configs/granularity/digits_lt_5plus5.py",
           "cifar10": "configs/granularity/cifar10_lt_5plus5.py"}
VARIANTS = {"targets": "(a) targets only", "aux_plain": "(b) + auxiliary, no silencing",
            "aux_silenced": "(c) + auxiliary, silencing",
            "aux_shuffled": "(d) + auxiliary, shuffled parents"}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dataset", choices=sorted(CONFIGS), required=True)
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--variants", default=",".join(VARIANTS))
  parser.add_argument("--root", default="runs/extrapolation")
  parser.add_argument("--data-dir", default="")
  parser.add_argument("--out", required=True)
  parser.add_argument("--override", action="append", default=[],
                      help="extra flag for every run, e.g. config.train.num_epochs=10")
  args = parser.parse_args()
  overrides = [f"--{o}" for o in args.override]
  if args.data_dir:
    overrides.append(f"--config.dataset.data_dir={os.path.abspath(args.data_dir)}")
  rows, notes = {}, []
  for variant in args.variants.split(","):
    label = VARIANTS[variant]
    rows[label] = []
    for seed in (int(s) for s in args.seeds.split(",")):
      workdir = os.path.join(args.root, f"{args.dataset}_{variant}_s{seed}")
      result, sec = run_seeds.run_one(f"{CONFIGS[args.dataset]}:{variant}", seed, workdir,
                                      overrides)
      rows[label].append(result)
      aux = result.get("auxiliary")
      if seed == int(args.seeds.split(",")[0]):
        what = "no auxiliary classes" if aux is None else (
            f"{aux['num_classes']} auxiliary classes, {aux['images_total']} images "
            f"({aux['images_per_epoch']} per epoch, cap {aux['cap']}), table "
            f"{aux['table_source']}: {json.dumps(aux['neighbors'])}, silencing "
            f"{aux['silencing']}")
        counts = result["class_counts"]
        notes.append(f"- {label}: target train counts {counts}; {what}; "
                     f"{result['total_steps']} steps, {sec:.0f} s for seed {seed}")
  header = (f"# Category extrapolation demonstration: {args.dataset}\n\n"
            f"Written {datetime.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
            f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores).\n\n"
            "Command:\n\n```\npython " + " ".join(sys.argv) + "\n```\n\n"
            "Test accuracy (%) on the target classes of the validation-selected weights, "
            "mean ± std over training seeds (sample std, ddof=1; subset seed 0).\n\n")
  text = (header + run_seeds.table(rows, {k: "" for k in rows}).replace("| config |",
                                                                        "| variant |")
          + "\n\n" + "\n".join(notes) + "\n")
  run_seeds.write_report(args.out, text)


if __name__ == "__main__":
  main()
