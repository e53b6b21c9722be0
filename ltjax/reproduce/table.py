"""The reproduction table: per row ltjax's mean ± std over seeds (val-selected, test evaluated
once) beside the published number, with a verdict; `table.json`, `table.md` and one picture."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from typing import Any

import numpy as np

from ltjax import config as config_lib
from ltjax.core import metrics as metrics_lib
from ltjax.reproduce import runner as runner_lib
from ltjax.reproduce import spec
from ltjax.runs import results as results_lib

MERGED = "merged.json"
BUCKETS = ("many", "medium", "few")


def _seed_entry(results: dict[str, Any]) -> dict[str, Any]:
  """What the table keeps of one finished run (fractions, as results.json)."""
  entry = {"test": {k: results["test"][k] for k in ("top1", *BUCKETS, "ece")}}
  if "val" in results:
    entry["val_top1"] = results["val"]["top1"]
  if "data_hash" in results:
    entry["data_hash"] = results["data_hash"]
  if "routing" in results:
    r = results["routing"]
    entry["routing"] = {"mean_experts": r.get("mean_experts"),
                        "mean_flops_per_image": r.get("mean_flops_per_image")}
  return entry


def _stat(values: list) -> dict[str, Any] | None:
  if not values or any(v is None for v in values):
    return None
  mean, std = metrics_lib.mean_and_std(values)
  return {"mean": 100 * mean, "std": None if std is None else 100 * std}


def verdict(ours: float | None, published: spec.Published | None, tolerance: float) -> str:
  if published is None:
    return "not published"
  if ours is None:
    return "no result"
  diff = ours - published.top1
  if abs(diff) <= tolerance:
    return "within tolerance"
  return "above" if diff > 0 else "below"


def _git_commit(repo: str) -> str:
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def _check_mergeable(repro: runner_lib.Reproduction, other: dict[str, Any], path: str) -> None:
  """Another table.json folds in only when it is the same table under the same schedule and
  overrides; what differs is named."""
  paths = set(config_lib.NON_RESULT_KEYS)  # e.g. another machine's dataset.data_dir

  def result_overrides(pairs):
    return {k: str(v) for k, v in pairs if k not in paths}

  mine = {"table": repro.table.name, "schedule": repro.schedule,
          "overrides": result_overrides(repro.cli_overrides)}
  theirs = {"table": other.get("table"), "schedule": other.get("schedule"),
            "overrides": result_overrides((other.get("overrides") or {}).items())}
  differ = [f"{k} {theirs[k]!r} there, {mine[k]!r} here" for k in mine if mine[k] != theirs[k]]
  if differ:
    raise ValueError(f"--merge {path}: it was made as another table run ({'; '.join(differ)}); "
                     "merge only tables of the same name, schedule and overrides")


def _check_merged_data(repro: runner_lib.Reproduction, row: str, seed: str,
                       entry: dict[str, Any], path: str) -> None:
  """A merged training seed must have trained on the data this command loads: the same config
  keys can point at another copy of the dataset files (a training run records their hash)."""
  config = repro.config(repro.table.row(row), int(seed))
  if "data_hash" not in entry or config.stage != "train":
    return
  here = repro.data_hash(config)
  if entry["data_hash"] != here:
    raise ValueError(f"--merge {path}: {row}/seed{seed} there was trained on other data than "
                     f"this command loads (content hash {entry['data_hash']} there, {here} "
                     "here): merge only tables run on the same dataset files")


def merge(repro: runner_lib.Reproduction, path: str) -> int:
  """Folds the seeds of another table.json that this workdir lacks into `merged.json`
  (kept for later builds); returns how many seed results were taken."""
  with open(path, encoding="utf-8") as f:
    other = json.load(f)
  _check_mergeable(repro, other, path)
  os.makedirs(repro.workdir, exist_ok=True)
  merged = runner_lib.read_json(os.path.join(repro.workdir, MERGED), {})
  taken = 0
  names = {r.name for r in repro.table.rows}
  for row in other.get("rows", []):
    if row["name"] not in names:
      continue
    for seed, entry in row.get("per_seed", {}).items():
      if entry.get("from") == "merged" and not entry.get("origin"):
        continue
      if not repro.finished(row["name"], int(seed)):
        _check_merged_data(repro, row["name"], seed, entry, path)
        merged.setdefault(row["name"], {})[seed] = entry | {
            "from": "merged", "origin": entry.get("origin") or os.path.abspath(path)}
        taken += 1
  results_lib.write_json_atomically(os.path.join(repro.workdir, MERGED), merged)
  return taken


def collect(repro: runner_lib.Reproduction) -> dict[str, Any]:
  """table.json's content from the workdir's finished runs (and merged seeds)."""
  merged = runner_lib.read_json(os.path.join(repro.workdir, MERGED), {})
  rows = []
  for r in repro.rows:
    per_seed, failures = {}, {}
    for seed in repro.seeds:
      key = f"{r.name}/seed{seed}"
      if repro.finished(r.name, seed):
        with open(os.path.join(repro.run_dir(r.name, seed), "results.json"),
                  encoding="utf-8") as f:
          per_seed[str(seed)] = _seed_entry(json.load(f)) | {"from": "this workdir"}
          per_seed[str(seed)]["timing"] = repro.timings.get(key)
      elif str(seed) in merged.get(r.name, {}):
        per_seed[str(seed)] = merged[r.name][str(seed)]
      elif key in repro.failures:
        failures[str(seed)] = repro.failures[key]
    entries = list(per_seed.values())
    test = {m: _stat([e["test"][m] for e in entries]) for m in ("top1", *BUCKETS, "ece")}
    val = _stat([e.get("val_top1") for e in entries])
    ours = None if test["top1"] is None else test["top1"]["mean"]
    p = r.published
    walls = [e["timing"]["wall_s"] for e in entries if e.get("timing")]
    rows.append({
        "name": r.name, "config": r.config, "builds_on": r.builds_on, "teacher": r.teacher,
        "note": r.note, "seeds_done": sorted(int(s) for s in per_seed),
        "seeds_asked": repro.seeds, "per_seed": per_seed, "failures": failures,
        "val_top1": val, "test": test,
        "published": None if p is None else {"top1": p.top1, "many": p.many,
                                             "medium": p.medium, "few": p.few,
                                             "source": p.source},
        "difference": None if (p is None or ours is None) else ours - p.top1,
        "tolerance": r.tolerance, "verdict": verdict(ours, p, r.tolerance),
        "wall_s": {"max": max(walls), "runs": len(walls)} if walls else None,
        "devices": sorted({e["timing"]["device"] for e in entries if e.get("timing")}),
    })
  return {"table": repro.table.name, "title": repro.table.title,
          "data": repro.table.data_note, "schedule": repro.schedule,
          "schedule_is_the_papers": repro.schedule == "full",
          "short_schedule": dict(repro.table.short) if repro.schedule == "short" else None,
          "overrides": dict(repro.cli_overrides), "seeds": repro.seeds,
          "std_ddof": metrics_lib.SEED_STD_DDOF,
          "written": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
          "commit": _git_commit(os.path.dirname(os.path.dirname(os.path.dirname(
              os.path.abspath(__file__))))), "rows": rows}


def _cell(stat: dict[str, Any] | None) -> str:
  if stat is None:
    return "-"
  return f"{stat['mean']:.2f}" + ("" if stat["std"] is None else f" ± {stat['std']:.2f}")


def _published_cell(p: dict[str, Any] | None) -> str:
  if p is None:
    return "never published"
  buckets = "/".join("-" if p[b] is None else f"{p[b]:.1f}" for b in BUCKETS)
  return f"{p['top1']:.2f}" + ("" if buckets == "-/-/-" else f" ({buckets})")


def markdown(table: dict[str, Any], command: str) -> str:
  schedule = {"full": "full (the paper's)", "smoke": "smoke (seconds per run; NOT the paper's)",
              "short": f"short {table['short_schedule']} (NOT the paper's)"}[table["schedule"]]
  lines = [f"# {table['title']}", "", f"Data: {table['data']}.", "",
           f"Schedule: {schedule}. Seeds: {table['seeds']} (mean ± sample std, ddof="
           f"{table['std_ddof']}); every run selected on validation, test evaluated once.",
           *([results_lib.SMOKE_CAVEAT[0].upper() + results_lib.SMOKE_CAVEAT[1:] + "."]
             if table["schedule"] == "smoke" else []),
           f"Written {table['written']}, commit {table['commit']}.", "",
           f"Command: `{command}`", "",
           "| row | seeds | val top-1 | test top-1 | many / medium / few | ECE | published "
           "(many/med/few) | source | diff | verdict | wall s | device |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in table["rows"]:
    t = r["test"]
    buckets = " / ".join(_cell(t[b]) for b in BUCKETS)
    diff = "-" if r["difference"] is None else f"{r['difference']:+.2f}"
    wall = "-" if r["wall_s"] is None else f"{r['wall_s']['max']:.0f}"
    name = r["name"] + (f" (on {r['builds_on']})" if r["builds_on"] else "") + (
        f" (teacher {r['teacher']})" if r["teacher"] else "")
    source = r["published"]["source"] if r["published"] else "-"
    lines.append(f"| {name} | {len(r['seeds_done'])}/{len(r['seeds_asked'])} | "
                 f"{_cell(r['val_top1'])} | {_cell(t['top1'])} | {buckets} | {_cell(t['ece'])} "
                 f"| {_published_cell(r['published'])} | {source} | {diff} | {r['verdict']} | "
                 f"{wall} | {', '.join(r['devices']) or '-'} |")
  failed = [(r["name"], s, m) for r in table["rows"] for s, m in r["failures"].items()]
  if failed:
    lines += ["", "Failed runs:"] + [f"- {n} seed {s}: {m}" for n, s, m in failed]
  routed = [(r["name"], e["routing"]) for r in table["rows"] for e in r["per_seed"].values()
            if e.get("routing")]
  if routed:
    lines += ["", "Routing (per seed): mean experts per image, mean FLOPs per image:"]
    lines += [f"- {n}: {x['mean_experts']:.2f} experts, "
              f"{(x['mean_flops_per_image'] or float('nan')) / 1e6:.1f} MFLOPs" for n, x in routed]
  lines += ["", "Verdict: |ltjax mean - published| <= the row's tolerance (points of top-1). "
            "ECE and accuracies in %; wall s = the longest run's wall time (a population's "
            "members share one program and one wall time)."]
  return "\n".join(lines) + "\n"


def picture(table: dict[str, Any], path: str) -> None:
  """ltjax (mean ± std over seeds) beside the published number, one line per row."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = table["rows"]
  fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.6))
  y = np.arange(len(rows))[::-1]
  for yi, r in zip(y, rows):
    t = r["test"]["top1"]
    if t is not None:
      ax.errorbar(t["mean"], yi, xerr=t["std"] or 0, fmt="o", color="tab:blue", capsize=3,
                  label="ltjax (mean ± std)" if yi == y[0] else None)
      for e in r["per_seed"].values():
        ax.plot(100 * e["test"]["top1"], yi, ".", color="tab:blue", alpha=0.35)
    if r["published"] is not None:
      ax.plot(r["published"]["top1"], yi, "x", color="tab:red", markersize=8,
              label="reference (its source in table.md)"
              if not any(q["published"] for q in rows[:rows.index(r)]) else None)
  ax.set_yticks(y)
  ax.set_yticklabels([r["name"] for r in rows])
  ax.set_xlabel("test top-1 (%)")
  ax.grid(axis="x", alpha=0.3)
  ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.5 / len(rows) - 0.06),
            ncol=2, frameon=False)
  ax.set_title(f"{table['title']} ({table['schedule']} schedule)", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write(repro: runner_lib.Reproduction, command: str) -> dict[str, Any]:
  """table.json, table.md and table.png in the workdir; returns the table."""
  table = collect(repro)
  os.makedirs(repro.workdir, exist_ok=True)  # --table-only / --merge into a new workdir
  results_lib.write_json_atomically(os.path.join(repro.workdir, "table.json"), table)
  text = markdown(table, command)
  with open(os.path.join(repro.workdir, "table.md"), "w", encoding="utf-8") as f:
    f.write(text)
  picture(table, os.path.join(repro.workdir, "table.png"))
  return table
