r"""DLSA end to end (issue 19): silicx/DLSA's own pipeline and ltjax's, on the same h5 features.

  pip install -e '.[bench,h5]' easydict tensorboard   # torch (CPU) and the reference's imports
  git clone https://github.com/silicx/DLSA /tmp/dlsa_ref
  python -m ltjax.main --config configs/cifar10_lt/ce.py --workdir /tmp/dlsa_e2e/stage1_ce \
      --config.dataset.data_dir=../shared/data          # one CIFAR-10-LT stage-1 run
  python experiments/dlsa_vs_reference.py --stage1 /tmp/dlsa_e2e/stage1_ce \
      --reference /tmp/dlsa_ref --workdir /tmp/dlsa_e2e/cmp --seeds 0,1,2 \
      --out experiments/results/dlsa_vs_reference_cifar10_lt.md

What runs:
1. ltjax writes the stage-1 run's cached features in the reference's h5 layout
   (`ltjax.dlsa.features.write_h5`): feature_train.h5 (the LT train split), feature_test.h5
   (the balanced test set) and feature_val.h5 (ltjax's held-out val; the reference never reads
   it for a dataset that is not ImageNet or iNaturalist).
2. The reference: a copy of the checkout with the patches in PATCHES (each one only lets it run
   here: the config path it cannot find, a class count for CIFAR-10-LT, nothing else), driven
   by its own `train_dlsa.main()` with a config file that is `config/ImgNet_CE_R50_bsm.yaml`
   (the reference's CE-features config) with the device set to the CPU, the flow loader's 8
   worker processes set to 0 (2 cores here) and, for `--setting small`, the flow scaled as
   ltjax's `configs/dlsa/cifar10_lt_ce.py` scales it. Seeds: the reference sets none; the
   worker seeds Python, NumPy and torch before `main()`. The worker only wraps two of its
   functions to keep their return values (the per-sample routing, the final test predictions).
3. ltjax: `ltjax.dlsa.stage.evaluate_features` on the same h5 folder, as VARIANTS: the
   reference's choices (heads selected on TEST, absent classes kept with the log(1e-6) prior,
   the regular classifier's prior from the full counts, the 5000-sample largest-cluster cap),
   then ltjax's defaults one at a time (select on val, mask absent classes) and together.
4. Both sides' test predictions are scored by the same function (ltjax.core.metrics buckets:
   many > 100, medium 20-100, few < 20 training images, as the reference's `shot_acc`); the
   reference's own logged "Total test" is checked against that. The table gives mean ± std
   over seeds (ddof = 1), each head's accuracy on the test samples routed to it, the filtered
   fractions and make-up, the flow epoch kept, and per-class accuracy side by side; a
   difference of means larger than the larger seed spread is flagged.

Writes --out (markdown) and the same numbers as .json beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# (file, text in the reference, replacement, why). Applied to a copy; each must match once.
PATCHES = (
    ("utils/io.py", 'ConfigManager.init_with_yaml("config/cls/BaseConfig.yaml")',
     'ConfigManager.init_with_yaml("config/BaseConfig.yaml")',
     "the file lives in config/, not config/cls/ (dlsa.md §7.1: the run fails at start)"),
    ("utils/io.py", '"iNaturalist":  8142,', '"iNaturalist":  8142,\n        "CIFAR10_LT": 10,',
     "its class-count map knows only ImageNet_LT, Places_LT and iNaturalist"),
)
REFERENCE_CONFIG = "config/ImgNet_CE_R50_bsm.yaml"
REFERENCE_CLUSTER_CAP = 5000  # train_dlsa.py: a flow epoch qualifies if its largest cluster < 5000

# --setting: the flow hyperparameters for both sides. "reference": ImgNet_CE_R50_bsm.yaml as it
# is. "small": ltjax's scaling to 64-d CIFAR features (ltjax.dlsa.recipes.dlsa_small_features):
# K 100, flow batch 256, lr 0.05, 30 epochs, NLL weights x C/1000 (for the reference: lambda_lh
# x C/1000, the same product).
SETTINGS = {
    "reference": {"num_clusters": 500, "batch_size": 1024, "learning_rate": 0.2,
                  "num_epochs": 50, "nll_scale": 1.0},
    "small": {"num_clusters": 100, "batch_size": 256, "learning_rate": 0.05, "num_epochs": 30,
              "nll_scale": 10 / 1000},
}
# ltjax rows: config.dlsa overrides on top of the reference's choices.
REFERENCE_CHOICES = {"select_on": "test", "absent_classes": "reference", "regular_prior": "full",
                     "cac_input": "x", "flow.last_batch": "keep", "head_last_batch": "keep"}
VARIANTS = {  # --variants key: (row label, overrides)
    "reference": ("ltjax, reference choices", {}),
    "drop": ("ltjax, partial batches dropped (flow and heads)",
             {"flow.last_batch": "drop", "head_last_batch": "drop"}),
    "flow_drop": ("ltjax, flow's partial batch dropped", {"flow.last_batch": "drop"}),
    "head_drop": ("ltjax, heads' partial batch dropped", {"head_last_batch": "drop"}),
    "val": ("ltjax, select on val", {"select_on": "val"}),
    "mask": ("ltjax, absent classes masked", {"absent_classes": "mask"}),
    "defaults": ("ltjax defaults (val, masked)", {"select_on": "val", "absent_classes": "mask"}),
}
REFERENCE_ROW = "silicx/DLSA (reference)"


# ------------------------------------------------------------------------ the reference side
def prepare_reference(checkout: str, workdir: str, features: str, setting: str) -> tuple[str, str]:
  """A patched copy of the checkout and its config file; returns (source dir, config path)."""
  src = os.path.join(workdir, "reference_src")
  if os.path.exists(src):
    shutil.rmtree(src)
  shutil.copytree(checkout, src, ignore=shutil.ignore_patterns(".git"))
  for rel, old, new, _ in PATCHES:
    path = os.path.join(src, rel)
    with open(path) as f:
      text = f.read()
    if text.count(old) != 1:
      raise RuntimeError(f"{checkout}/{rel}: expected {old!r} once, found it "
                         f"{text.count(old)} times; is this silicx/DLSA at 9559ab6?")
    with open(path, "w") as f:
      f.write(text.replace(old, new))
  import yaml  # pylint: disable=g-import-not-at-top
  with open(os.path.join(src, REFERENCE_CONFIG)) as f:
    cfg = yaml.safe_load(f)
  s = SETTINGS[setting]
  cfg.update(dataset="CIFAR10_LT", feat_dir=os.path.abspath(features), device="cpu",
             root_dir=os.path.abspath(os.path.join(workdir, "reference_logs")))
  cfg["gmflow"]["data"]["num_workers"] = 0
  cfg["gmflow"]["model"]["num_cluster"] = s["num_clusters"]
  cfg["gmflow"]["data"]["batchsize"] = s["batch_size"]
  cfg["gmflow"]["optim"]["lr"] = s["learning_rate"]
  cfg["gmflow"]["optim"]["epoch"] = s["num_epochs"]
  cfg["gmflow"]["loss"]["lambda_lh"] = float(cfg["gmflow"]["loss"]["lambda_lh"]) * s["nll_scale"]
  path = os.path.join(src, "config", f"CIFAR10_LT_CE_{setting}.yaml")
  with open(path, "w") as f:
    yaml.safe_dump(cfg, f, sort_keys=False)
  return src, path


def reference_worker(src: str, cfg: str, seed: int, out: str) -> None:
  """Runs in a subprocess with cwd = src: seeds, then the reference's own main()."""
  import random  # pylint: disable=g-import-not-at-top

  import torch  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, src)
  random.seed(seed)
  np.random.seed(seed)
  torch.manual_seed(seed)
  import train_dlsa  # pylint: disable=g-import-not-at-top,import-error
  captured = {}
  divide_samples, divide_and_conquer = train_dlsa.divide_samples, train_dlsa.divide_and_conquer

  def keep_division(*args, **kwargs):
    out_ = divide_samples(*args, **kwargs)
    captured.setdefault("division", out_)  # stage 1 (depth 1 is all this script runs)
    return out_

  def keep_prediction(*args, **kwargs):
    pred = divide_and_conquer(*args, **kwargs)
    captured["prediction"] = np.asarray(pred)  # the outermost call returns last
    return pred

  train_dlsa.divide_samples, train_dlsa.divide_and_conquer = keep_division, keep_prediction
  sys.argv = ["train_dlsa.py", "--cfg", cfg, "--name", f"seed{seed}", "--force"]
  train_dlsa.main()
  classify_index, labelmap_index, _ = captured["division"]
  # labelmap = log p(x) >= alpha: the samples the cluster-aided classifier takes.
  np.savez(out, test_prediction=captured["prediction"],
           cac_test=np.asarray(labelmap_index["test"]), cac_train=np.asarray(
               labelmap_index["train"]), regular_test=np.asarray(classify_index["test"]))


NUM = r"(-?[\d.]+|nan)"
LOG_PATTERNS = {
    "total": rf"Total test: {NUM} / {NUM}, {NUM}, {NUM}",
    "cac": rf"\[D1\] CA Classifier: test: {NUM} / {NUM}, {NUM}, {NUM}",
    "regular": rf"\[D1\] Regular Classifier: test: {NUM} / {NUM}, {NUM}, {NUM}",
    "cac_best_epoch": r"\[cacls\] Best epoch: (\d+|None)",
    "regular_best_epoch": r"\[regcls\] Best epoch: (\d+|None)",
    "clusters_remaining": r"Best clusters remaining: (-?\d+)",
}


def parse_reference_log(logs_txt: str, stderr: str) -> dict:
  """The figures the reference logs itself (its file log) and the flow epoch it kept."""
  out = {}
  for key, pattern in LOG_PATTERNS.items():
    m = re.findall(pattern, logs_txt)
    if m:
      last = m[-1]
      out[key] = [float(v) for v in last] if isinstance(last, tuple) else (
          None if last == "None" else int(last))  # the single-number patterns are counts
  best = re.findall(r"\(best (-?\d+) at epoch (\d+|None)", stderr)
  if best:
    out["flow_epoch"] = None if best[-1][1] == "None" else int(best[-1][1])
  out["nan_losses"] = len(re.findall(r"loss: .*nan", stderr))
  return out


def run_reference(src: str, cfg: str, seed: int, workdir: str, reuse: bool = False) -> dict:
  """One seed of the reference (or, with `reuse`, the run an earlier call left in workdir)."""
  out_dir = os.path.join(workdir, "reference", f"seed{seed}")
  os.makedirs(out_dir, exist_ok=True)
  capture = os.path.join(out_dir, "capture.npz")
  timing = os.path.join(out_dir, "seconds.json")
  if reuse and os.path.exists(capture) and os.path.exists(timing):
    with open(timing) as f:
      seconds = json.load(f)["seconds"]
    return {**_reference_result(workdir, out_dir, capture, seed, seconds), "reused": True}
  start = time.time()
  with open(os.path.join(out_dir, "stderr.log"), "w") as err, \
       open(os.path.join(out_dir, "stdout.log"), "w") as out:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--reference-worker",
                           "--src", src, "--cfg", cfg, "--seed", str(seed), "--capture", capture],
                          cwd=src, stdout=out, stderr=err, check=False)
  seconds = time.time() - start
  if proc.returncode:
    with open(os.path.join(out_dir, "stderr.log")) as f:
      tail = "\n".join(f.read().splitlines()[-15:])
    raise RuntimeError(f"the reference failed for seed {seed} (exit {proc.returncode}); last "
                       f"lines of {out_dir}/stderr.log:\n{tail}")
  with open(timing, "w") as f:
    json.dump({"seconds": seconds}, f)
  return {**_reference_result(workdir, out_dir, capture, seed, seconds), "reused": False}


def _reference_result(workdir: str, out_dir: str, capture: str, seed: int, seconds: float):
  with open(os.path.join(out_dir, "stderr.log")) as f:
    stderr = f.read()
  with open(os.path.join(workdir, "reference_logs", f"seed{seed}", "logs.txt")) as f:
    logged = parse_reference_log(f.read(), stderr)
  c = dict(np.load(capture))
  return {"prediction": c["test_prediction"], "cac_test": c["cac_test"].astype(bool),
          "cac_train_fraction": float(c["cac_train"].mean()), "logged": logged,
          "seconds": seconds}


# --------------------------------------------------------------------------- the ltjax side
def ltjax_config(h5_dir: str, setting: str, overrides: dict, seed: int, num_train: int):
  from ltjax.config import keys  # pylint: disable=g-import-not-at-top
  from ltjax.dlsa import recipes  # pylint: disable=g-import-not-at-top
  s = SETTINGS[setting]
  c = recipes.dlsa_recipe(h5_dir)
  c.seed = seed
  f = c.dlsa.flow
  f.num_clusters, f.batch_size = s["num_clusters"], s["batch_size"]
  f.learning_rate, f.num_epochs = s["learning_rate"], s["num_epochs"]
  f.nll_class_scaling = s["nll_scale"] != 1.0
  # The reference's absolute cap (largest cluster < 5000) as a fraction of this train split.
  f.max_cluster_fraction = (REFERENCE_CLUSTER_CAP - 0.5) / num_train
  for key, value in {**REFERENCE_CHOICES, **overrides}.items():
    keys.set_value(c, f"dlsa.{key}", value)
  return c


def run_ltjax(h5_dir: str, setting: str, overrides: dict, seed: int, num_train: int) -> dict:
  from ltjax.dlsa import stage  # pylint: disable=g-import-not-at-top
  config = ltjax_config(h5_dir, setting, overrides, seed, num_train)
  start = time.time()
  r = stage.evaluate_features(config, h5_dir)
  seconds = time.time() - start
  first = r["stages"][0]
  history = first["flow_history"]
  chosen = first["flow_chosen_epoch"]
  return {"prediction": np.asarray(r["_test_logits"]).argmax(-1),
          "cac_test": np.asarray(r["_test_route"]) == 0,
          "cac_train_fraction": first["filtered_fraction"]["train"],
          "flow_epoch": None if chosen < 0 else chosen + 1,
          "clusters_remaining": history[chosen]["score"] if chosen >= 0 else None,
          "rollbacks": first["flow_rollbacks"], "skipped_steps": first["flow_skipped_steps"],
          "control": r["baselines"]["control_bsm_linear"]["test"], "seconds": seconds}


# ------------------------------------------------------------------------------- scoring
def score(prediction: np.ndarray, labels: np.ndarray, counts: np.ndarray) -> dict:
  """top-1, many / medium / few (means of per-class accuracy) and per-class accuracy."""
  from ltjax.core import metrics  # pylint: disable=g-import-not-at-top
  per_class = np.array([np.mean(prediction[labels == c] == c) if np.any(labels == c) else np.nan
                        for c in range(len(counts))])
  out = {"top1": float(np.mean(prediction == labels)), "per_class": per_class.tolist()}
  for name, mask in metrics.bucket_of_classes(counts).items():
    vals = per_class[mask & ~np.isnan(per_class)]
    out[name] = float(vals.mean()) if vals.size else None
  return out


def routed(run: dict, labels: np.ndarray, counts: np.ndarray) -> dict:
  """Each head's accuracy on the test samples routed to it, the filtered fractions and the
  make-up (many / medium / few share) of the filtered test samples."""
  from ltjax.core import metrics  # pylint: disable=g-import-not-at-top
  cac, pred = run["cac_test"], run["prediction"]
  buckets = metrics.bucket_of_classes(counts)
  return {"cac_test_fraction": float(cac.mean()), "cac_train_fraction": run["cac_train_fraction"],
          "cac_accuracy": float(np.mean(pred[cac] == labels[cac])) if cac.any() else None,
          "regular_accuracy": float(np.mean(pred[~cac] == labels[~cac])) if (~cac).any()
          else None,
          "cac_make_up": {k: float(m[labels[cac]].mean()) if cac.any() else None
                          for k, m in buckets.items()}}


def _ms(values, scale=100.0, digits=2) -> str:
  from ltjax.core import metrics  # pylint: disable=g-import-not-at-top
  values = [v for v in values if v is not None]
  if not values:
    return "-"
  mean, std = metrics.mean_and_std(values)
  if std is None:
    return f"{scale * mean:.{digits}f}"
  return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def _spread(values) -> tuple[float, float]:
  """(mean, seed std) as ltjax reports them; std 0 for a single value."""
  from ltjax.core import metrics  # pylint: disable=g-import-not-at-top
  mean, std = metrics.mean_and_std([v for v in values if v is not None])
  return mean, 0.0 if std is None else std


@dataclasses.dataclass
class Row:
  name: str
  select_on: str
  runs: list  # per seed: {"score", "routed", ...}
  overrides: dict = dataclasses.field(default_factory=dict)  # config.dlsa keys, ltjax rows


def write_report(args, rows: list[Row], stage1: dict, counts: np.ndarray, extras: dict,
                 wall: float) -> str:
  from experiments import lockstep  # pylint: disable=g-import-not-at-top
  keys = ("top1", "many", "medium", "few")
  ref_commit = lockstep._git(args.reference, "rev-parse", "--short", "HEAD") or "unknown"
  lines = [
      f"# DLSA end to end: ltjax vs silicx/DLSA on the same CIFAR-10-LT features "
      f"(setting `{args.setting}`)", "",
      f"Written {datetime.datetime.now():%Y-%m-%d %H:%M} by `experiments/dlsa_vs_reference.py` "
      f"on {lockstep.machine()}; ltjax at {lockstep.ltjax_commit()}, reference checkout "
      f"`{args.reference}` at {ref_commit}. Wall time {wall / 60:.1f} min.", "",
      "Command:", "", "```", "python " + " ".join(sys.argv), "```", "",
      *([f"The reference rows are the runs an earlier call left in `{args.workdir}` "
         "(--reuse-reference): same features, setting and seeds; their seconds are from that "
         "call.", ""] if all(r["reused"] for r in rows[0].runs) else []),
      f"Features: the stage-1 run `{args.stage1}` ({extras['stage1_note']}), written by "
      f"`ltjax.dlsa.features.write_h5` as `feature_train.h5` ({extras['sizes']['train']:,}), "
      f"`feature_val.h5` ({extras['sizes']['val']:,}, read by ltjax only) and "
      f"`feature_test.h5` ({extras['sizes']['test']:,}); D = {extras['dim']}; training "
      f"counts per class {counts.tolist()}.", "",
      f"Settings (`{args.setting}`): flow K = {SETTINGS[args.setting]['num_clusters']}, batch "
      f"{SETTINGS[args.setting]['batch_size']}, lr {SETTINGS[args.setting]['learning_rate']}, "
      f"{SETTINGS[args.setting]['num_epochs']} epochs, NLL weight x "
      f"{SETTINGS[args.setting]['nll_scale']:g}; everything else as the reference's "
      f"`{REFERENCE_CONFIG}` (depth 1, proportion 0.3, lambdas 2 / 1 / 0.02, q 2, EMA 0.7, "
      "linear heads, Balanced Softmax, SGD lr 1e-2 for 150 epochs at batch 128, evaluated "
      "every 5 epochs).", "",
      "Patches to the reference copy (nothing else changed; its config file differs from "
      f"`{REFERENCE_CONFIG}` only in dataset, feat_dir, root_dir, device cpu, the flow "
      "loader's num_workers 0 and the setting's flow numbers):", ""]
  lines += [f"- `{rel}`: `{old}` → `{new.replace(chr(10), ' ')}` ({why})"
            for rel, old, new, why in PATCHES]
  lines += ["", "ltjax rows: `ltjax.dlsa.stage.evaluate_features` with the reference's choices "
            + ", ".join(f"`dlsa.{k}={v}`" for k, v in REFERENCE_CHOICES.items())
            + " and `dlsa.flow.max_cluster_fraction` = (5000 - 0.5) / N, each row changing:", ""]
  lines += [f"- {row.name}: " + (", ".join(f"`dlsa.{k}={v}`" for k, v in row.overrides.items())
                                 or "nothing") for row in rows[1:]]
  lines += ["", "## Test accuracy (%), mean ± std over seeds " + str(args.seeds), "",
            "Every row's numbers are computed from its test predictions by the same function. "
            "\"CaC\" / \"regular\" = each head's accuracy on the test samples routed to it; "
            "\"filtered\" = share of train / test samples the stage-1 flow sent to the CaC; "
            "\"selected on\" = the split that picked each head's epoch.", "",
            "| row | selected on | top-1 | many | medium | few | CaC | regular | filtered "
            "train / test | CaC test make-up many / medium | flow epoch kept | clusters "
            "remaining | s / run |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for row in rows:
    sc = [r["score"] for r in row.runs]
    ro = [r["routed"] for r in row.runs]
    cells = [_ms([s[k] for s in sc]) for k in keys]
    cells += [_ms([r["cac_accuracy"] for r in ro]), _ms([r["regular_accuracy"] for r in ro]),
              f"{_ms([r['cac_train_fraction'] for r in ro], digits=1)} / "
              f"{_ms([r['cac_test_fraction'] for r in ro], digits=1)}",
              f"{_ms([r['cac_make_up']['many'] for r in ro], digits=1)} / "
              f"{_ms([r['cac_make_up']['medium'] for r in ro], digits=1)}",
              ", ".join(str(r.get("flow_epoch")) for r in row.runs),
              ", ".join(str(r.get("clusters_remaining")) for r in row.runs),
              f"{np.mean([r['seconds'] for r in row.runs]):.0f}"]
    lines.append(f"| {row.name} | {row.select_on} | " + " | ".join(cells) + " |")
  lines += ["| stage-1 classifier (the features' own head) | val | "
            + " | ".join(_ms([stage1[k]]) for k in keys) + " | | | | | | | |",
            f"| ltjax BSM linear control (all features; from the runs of \"{rows[1].name}\") "
            "| test | "
            + " | ".join(_ms([r["control"][k] for r in rows[1].runs]) for k in keys)
            + " | | | | | | | |", ""]
  # The reference's own log against our scoring of its predictions.
  worst = max(abs(r["logged"]["total"][0] / 100 - r["score"]["top1"]) for r in rows[0].runs
              if "total" in r["logged"])
  lines += [f"The reference's own `Total test` lines agree with the scoring of its captured "
            f"predictions to {100 * worst:.3f} points (top-1, worst seed).", ""]
  nan_runs = [r["logged"].get("nan_losses", 0) for r in rows[0].runs]
  if any(nan_runs):
    lines += [f"The reference logged a NaN epoch loss in {nan_runs} flow epochs (per seed).", ""]
  skipped = {row.name: [(r["skipped_steps"], r["rollbacks"]) for r in row.runs]
             for row in rows[1:]}
  lines += ["ltjax flow steps skipped as non-finite / rollbacks, per seed: "
            + "; ".join(f"{name} {v}" for name, v in skipped.items()), ""]
  lines += ["## Differences beyond the seed spread", "",
            "|Δ mean| against the larger of the two rows' std (ddof = 1) over seeds, each ltjax "
            "row against the reference; flagged when larger.", "",
            "| ltjax row | " + " | ".join(keys) + " | CaC | regular | test filtered |",
            "|---|" + "---|" * (len(keys) + 3)]
  ref = rows[0]

  def metric(row, k):
    if k in keys:
      return [r["score"][k] for r in row.runs]
    return [r["routed"][k] for r in row.runs]

  for row in rows[1:]:
    cells = []
    for k in (*keys, "cac_accuracy", "regular_accuracy", "cac_test_fraction"):
      if any(v is None for v in metric(ref, k) + metric(row, k)):
        cells.append("-")  # an empty bucket (CIFAR-10-LT has no few-shot class)
        continue
      a, sa = _spread(metric(ref, k))
      b, sb = _spread(metric(row, k))
      gap, spread = abs(b - a), max(sa, sb)
      cells.append(f"{100 * (b - a):+.2f} (spread {100 * spread:.2f})"
                   + (" **beyond**" if gap > spread else ""))
    lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
  lines += ["", "## Per-class test accuracy (%), mean over seeds", "",
            "| class | train images | " + " | ".join(r.name for r in rows) + " |",
            "|---|---|" + "---|" * len(rows)]
  for c in range(len(counts)):
    cells = [f"{100 * np.nanmean([r['score']['per_class'][c] for r in row.runs]):.1f}"
             for row in rows]
    lines.append(f"| {c} | {counts[c]} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--stage1", help="an ltjax stage-1 workdir with a features/ cache")
  parser.add_argument("--reference", help="a silicx/DLSA checkout")
  parser.add_argument("--workdir", default="/tmp/dlsa_e2e/cmp")
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--setting", choices=tuple(SETTINGS), default="reference")
  parser.add_argument("--variants", default=",".join(VARIANTS))
  parser.add_argument("--out", default="")
  parser.add_argument("--reuse-reference", action="store_true",
                      help="reuse the reference runs an earlier call left in --workdir (same "
                           "features, setting and seeds); the report says so")
  # The reference worker (internal: this script runs itself in a subprocess).
  parser.add_argument("--reference-worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--src", help=argparse.SUPPRESS)
  parser.add_argument("--cfg", help=argparse.SUPPRESS)
  parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
  parser.add_argument("--capture", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.reference_worker:
    reference_worker(args.src, args.cfg, args.seed, args.capture)
    return
  if not args.stage1 or not args.reference:
    parser.error("--stage1 and --reference are required")
  if not os.path.exists(os.path.join(args.reference, "train_dlsa.py")):
    parser.error(f"--reference {args.reference} is not a silicx/DLSA checkout (no "
                 "train_dlsa.py); git clone https://github.com/silicx/DLSA")
  from ltjax.dlsa import features as features_lib  # pylint: disable=g-import-not-at-top
  from ltjax.runs import feature_cache  # pylint: disable=g-import-not-at-top
  import ltjax.methods  # pylint: disable=g-import-not-at-top,unused-import  (the method rooms)
  start = time.time()
  args.seeds = [int(s) for s in args.seeds.split(",")]
  setting_dir = os.path.join(args.workdir, args.setting)
  os.makedirs(setting_dir, exist_ok=True)
  splits = {s: feature_cache.load_split(args.stage1, s) for s in ("train", "val", "test")}
  splits = {k: v for k, v in splits.items() if v is not None}
  h5_dir = os.path.join(args.workdir, "features_h5")
  features_lib.write_h5(h5_dir, splits)
  labels = np.asarray(splits["test"]["labels"])
  num_classes = int(splits["test"]["logits"].shape[-1])
  counts = np.bincount(splits["train"]["labels"], minlength=num_classes)
  num_train = len(splits["train"]["labels"])
  stage1 = score(np.asarray(splits["test"]["logits"]).argmax(-1), labels, counts)
  with open(os.path.join(args.stage1, "config.json")) as f:
    stage1_config = json.load(f)
  extras = {"sizes": {k: len(v["labels"]) for k, v in splits.items()},
            "dim": int(splits["train"]["features"].shape[1]),
            "stage1_note": f"{stage1_config.get('model', {}).get('name', '?')}, loss "
                           f"{stage1_config.get('loss', {}).get('name', '?')}, "
                           f"{stage1_config.get('train', {}).get('num_epochs', '?')} epochs; "
                           f"its own test top-1 {100 * stage1['top1']:.2f}"}

  reuse = args.reuse_reference and os.path.isdir(os.path.join(setting_dir, "reference_src"))
  if reuse:
    src = os.path.join(setting_dir, "reference_src")
    cfg = os.path.join(src, "config", f"CIFAR10_LT_CE_{args.setting}.yaml")
  else:
    src, cfg = prepare_reference(args.reference, setting_dir, h5_dir, args.setting)
  rows = [Row(REFERENCE_ROW, "test", [])]
  for seed in args.seeds:
    run = run_reference(src, cfg, seed, setting_dir, reuse=reuse)
    run["score"], run["routed"] = score(run["prediction"], labels, counts), None
    run["routed"] = routed(run, labels, counts)
    run["clusters_remaining"] = run["logged"].get("clusters_remaining")
    run["flow_epoch"] = run["logged"].get("flow_epoch")
    rows[0].runs.append(run)
    print(f"{REFERENCE_ROW} seed {seed}: test {100 * run['score']['top1']:.2f} "
          f"({run['seconds']:.0f} s)", flush=True)
  for key in args.variants.split(","):
    name, overrides = VARIANTS[key]
    row = Row(name, {**REFERENCE_CHOICES, **overrides}["select_on"], [], overrides)
    for seed in args.seeds:
      run = run_ltjax(h5_dir, args.setting, overrides, seed, num_train)
      run["score"] = score(run["prediction"], labels, counts)
      run["routed"] = routed(run, labels, counts)
      row.runs.append(run)
      print(f"{name} seed {seed}: test {100 * run['score']['top1']:.2f} "
            f"({run['seconds']:.0f} s)", flush=True)
    rows.append(row)
  text = write_report(args, rows, stage1, counts, extras, time.time() - start)
  print(text)
  if args.out:
    with open(args.out, "w") as f:
      f.write(text)
    dump = {"setting": args.setting, "seeds": args.seeds, "class_counts": counts.tolist(),
            "stage1": stage1,
            "rows": {row.name: [{k: v for k, v in r.items() if k not in ("prediction",
                                                                         "cac_test")}
                                for r in row.runs] for row in rows}}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
      json.dump(dump, f, indent=1, default=float)


if __name__ == "__main__":
  main()
