"""A finished population's summary: every member, and per swept setting mean ± std over its
seeds, with the best setting chosen on validation only (`population.json` and its table)."""

from __future__ import annotations

from typing import Any

from ltjax.core import metrics as metrics_lib
from ltjax.runs import results as results_lib

METRICS = ("top1", "many", "medium", "few", "ece")


def member_row(name: str, seed: int, setting: dict[str, Any], results: dict[str, Any] | None,
               diverged: dict[str, Any] | None = None) -> dict[str, Any]:
  """One member's entry: its place, status and val / test figures (None when it diverged)."""
  row = {"name": name, "seed": seed, "setting": setting}
  if diverged is not None:
    return row | {"status": "diverged", "diverged": diverged}
  row |= {"status": "finished", "selected_step": results["selected_step"]}
  for split in ("val", "test"):
    if split in results:
      row[split] = {m: results[split][m] for m in METRICS}
  return row


def _aggregate(rows: list[dict[str, Any]], split: str) -> dict[str, Any] | None:
  done = [r for r in rows if r["status"] == "finished" and split in r]
  if not done:
    return None
  out = {}
  for m in METRICS:
    values = [r[split][m] for r in done]
    if any(v is None for v in values):  # an empty bucket stays empty, never a made-up 0
      out[m] = None
      continue
    mean, std = metrics_lib.mean_and_std(values)
    out[m] = {"mean": mean, "std": std}
  return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
  """population.json: members, per-setting aggregates over seeds, and the val-selected best."""
  settings: list[dict[str, Any]] = []
  for row in rows:
    for s in settings:
      if s["setting"] == row["setting"]:
        s["members"].append(row["name"])
        break
    else:
      settings.append({"setting": row["setting"], "members": [row["name"]]})
  for s in settings:
    mine = [r for r in rows if r["name"] in s["members"]]
    s["seeds"] = [r["seed"] for r in mine if r["status"] == "finished"]
    s["diverged"] = [r["name"] for r in mine if r["status"] == "diverged"]
    s["val"], s["test"] = _aggregate(mine, "val"), _aggregate(mine, "test")
  scored = [s for s in settings if s["val"] is not None]
  # A setting that lost a seed to divergence is not a candidate: its mean covers only the
  # seeds that survived.
  stable = [s for s in scored if not s["diverged"]]
  best = max(stable, key=lambda s: s["val"]["top1"]["mean"]) if stable else None
  return {
      "members": rows,
      "settings": settings,
      "std_ddof": metrics_lib.SEED_STD_DDOF,
      "best_setting": None if best is None else best["setting"],
      "selection": ("the setting with the highest mean validation top-1 over its seeds, among "
                    "the settings none of whose seeds diverged; test figures play no part"
                    if best is not None else
                    "none: every setting lost a seed to divergence" if scored else
                    "none: no validation split, so no setting is selected"),
  }


def _mean_std(entry) -> str:
  if entry is None:
    return "   -  "
  if entry["std"] is None:
    return f"{100 * entry['mean']:5.2f}"
  return f"{100 * entry['mean']:5.2f} ± {100 * entry['std']:.2f}"


def format_table(summary: dict[str, Any]) -> str:
  """The printed table: one line per setting (mean ± std over seeds, ddof stated)."""
  names = []
  for s in summary["settings"]:
    name = ", ".join(f"{k}={v}" for k, v in s["setting"].items()) or "(seeds only)"
    if s["setting"] == summary["best_setting"] and len(summary["settings"]) > 1:
      name = "* " + name
    names.append(name)
  width = max(len(n) for n in names + ["setting"])
  count = len(summary["members"])
  member_width = max(len(m["name"]) for m in summary["members"] + [{"name": "member"}])
  lines = [f"{'member':<{member_width}}  {'val top1':>8}  {'test top1':>9}  selected step"]
  for m in summary["members"]:
    if m["status"] != "finished":
      lines.append(f"{m['name']:<{member_width}}  diverged at step {m['diverged']['step']}")
      continue
    val = f"{100 * m['val']['top1']:8.2f}" if "val" in m else f"{'-':>8}"
    lines.append(f"{m['name']:<{member_width}}  {val}  {100 * m['test']['top1']:9.2f}  "
                 f"{m['selected_step']}")
  lines += ["",
            f"population: {count} member{'s' if count != 1 else ''}; mean ± std over seeds "
            f"(ddof={summary['std_ddof']})",
           f"{'setting':<{width}} {'n':>2}  {'val top1':>14}  {'test top1':>14}  "
           f"{'many':>14}  {'medium':>14}  {'few':>14}"]
  for name, s in zip(names, summary["settings"]):
    val, test = s["val"] or {}, s["test"] or {}
    cells = [_mean_std(val.get("top1"))] + [_mean_std(test.get(m))
                                           for m in ("top1", "many", "medium", "few")]
    lines.append(f"{name:<{width}} {len(s['seeds']):>2}  " + "  ".join(f"{c:>14}" for c in cells)
                 + (f"  ({len(s['diverged'])} diverged)" if s["diverged"] else ""))
  if len(summary["settings"]) > 1:
    lines.append(f"* selected: {summary['selection']}")
  return "\n".join(lines)


def write(path: str, summary: dict[str, Any]) -> None:
  results_lib.write_json_atomically(path, summary)
