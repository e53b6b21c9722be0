r"""Runs configs for several training seeds and writes a markdown table (mean +- std).

  python experiments/run_seeds.py --configs configs/digits_lt/ce.py,configs/digits_lt/crt.py \
      --seeds 0,1,2 --root runs/seeds --out experiments/results/digits_lt.md \
      [--override config.train.num_epochs=30 ...]

Training configs run as `python -m ltjax.main` in a subprocess per seed (the subset seed stays
0: only the training seed changes). Decoupled stage-2 configs run on the stage-1 workdir of
the same seed, which must be among --configs (`--stage1` names it; default: the ce.py beside
the stage-2 config). A workdir that already holds results.json is reused, so an interrupted
sweep resumes. The table reports test accuracy (%) of the val-selected weights, with the
reference number from each config's docstring beside it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from ltjax.core import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position


def _name(config_path: str) -> str:
  return os.path.splitext(os.path.basename(config_path))[0]


def _reference(config_path: str) -> str:
  """The docstring's "Reference...: <text>." sentence (it may span lines)."""
  with open(os.path.join(REPO, config_path), encoding="utf-8") as f:
    match = re.search(r"Reference[^:\n]*:\s*(.+?)\.\s*(?:\n|$)", f.read(), re.S)
  return " ".join(match.group(1).split()) if match else ""


def _is_stage2(config_path: str) -> bool:
  with open(os.path.join(REPO, config_path), encoding="utf-8") as f:
    return "decoupled_stage(" in f.read()


def run_one(config_path, seed, workdir, overrides, stage1_workdir=None) -> tuple[dict, float]:
  """Runs one config for one seed (or reuses a finished workdir); returns (results, seconds)."""
  results_path = os.path.join(workdir, "results.json")
  start = time.time()
  if not os.path.exists(results_path):
    cmd = [sys.executable, "-m", "ltjax.main", f"--config={config_path}",
           f"--workdir={workdir}", f"--config.seed={seed}", *overrides]
    if stage1_workdir:
      cmd.append(f"--config.decoupled.stage1_workdir={stage1_workdir}")
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode:
      sys.stderr.write(proc.stderr[-4000:])
      raise RuntimeError(f"{config_path} seed {seed} failed (exit {proc.returncode})")
  with open(results_path, encoding="utf-8") as f:
    return json.load(f), time.time() - start


def _cell(values) -> str:
  values = [v for v in values if v is not None]
  if not values:
    return "empty"
  pct = 100 * np.asarray(values)
  mean, std = metrics.mean_and_std(pct)
  return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def table(rows: dict[str, list[dict]], references: dict[str, str]) -> str:
  lines = ["| config | seeds | test top-1 | many | medium | few | ECE | tuned tau | reference |",
           "|---|---|---|---|---|---|---|---|---|"]
  for path, runs in rows.items():
    t = [r["test"] for r in runs]
    taus = [r["tuned"]["tau"] for r in runs if "tuned" in r]
    lines.append(
        f"| `{path}` | {len(runs)} | {_cell([x['top1'] for x in t])} | "
        f"{_cell([x['many'] for x in t])} | {_cell([x['medium'] for x in t])} | "
        f"{_cell([x['few'] for x in t])} | {_cell([x['ece'] for x in t])} | "
        f"{', '.join(f'{v:g}' for v in taus) or '-'} | {references[path] or '-'} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--configs", required=True, help="comma-separated config paths")
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--root", default="runs/seeds")
  parser.add_argument("--out", required=True, help="markdown file to write")
  parser.add_argument("--stage1", default="", help="stage-1 config for the stage-2 configs")
  parser.add_argument("--override", action="append", default=[],
                      help="extra flag for every training run, e.g. config.train.num_epochs=30")
  args = parser.parse_args()
  configs = args.configs.split(",")
  seeds = [int(s) for s in args.seeds.split(",")]
  overrides = [f"--{o}" for o in args.override]
  rows, seconds = {}, {}
  # Stage-1 configs first, so stage-2 configs find their workdirs.
  for path in sorted(configs, key=_is_stage2):
    rows[path], seconds[path] = [], 0.0
    for seed in seeds:
      workdir = os.path.join(args.root, f"{_name(path)}_s{seed}")
      stage1 = None
      if _is_stage2(path):
        stage1_cfg = args.stage1 or os.path.join(os.path.dirname(path), "ce.py")
        stage1 = os.path.join(args.root, f"{_name(stage1_cfg)}_s{seed}")
        result, sec = run_one(path, seed, workdir, [], stage1)
      else:
        result, sec = run_one(path, seed, workdir, overrides)
      rows[path].append(result)
      seconds[path] += sec
  header = (f"# {os.path.basename(args.out)}\n\n"
            f"Written {datetime.datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
            f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores).\n\n"
            "Command:\n\n```\npython " + " ".join(sys.argv) + "\n```\n\n"
            "Test accuracy (%) of the validation-selected weights, mean ± std over seeds "
            "(sample std, ddof=1; training seed only; subset seed 0).\n\n")
  write_report(args.out, header + table(rows, {p: _reference(p) for p in rows}) + "\n")


def write_report(path: str, text: str) -> None:
  """Writes a markdown report (creating its folder) and prints it."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  main()
