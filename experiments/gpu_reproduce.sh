#!/usr/bin/env bash
# The first full-schedule table (CIFAR-10-LT IF 100, 200 epochs, 3 seeds) on one GPU, as one
# script: `python -m ltjax.reproduce cifar10_lt` in the issue's priority order, one stage per
# group of rows with its own time limit. The reproduction never re-runs a finished run and
# rewrites table.md / table.json / table.png after every run, so each stage leaves the table so
# far under $OUT, and a later GPU slot continues where this one stopped (same WORK directory,
# or a fresh one with --merge of the earlier table.json).
#
#   DATA=dir/with/cifar10.npz OUT=results/dir bash experiments/gpu_reproduce.sh
# Optional: WORK (/tmp/ltjax_repro_c10), SEEDS (3), STEPS_PER_DISPATCH (8), MERGE (a table.json).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATA:?set DATA to the directory holding cifar10.npz (or cifar-10-batches-py/)}"
: "${OUT:?set OUT to a directory for the table and logs}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-/tmp/ltjax_xla_cache}"
WORK="${WORK:-/tmp/ltjax_repro_c10}"
MERGE_ARGS=()
[ -n "${MERGE:-}" ] && MERGE_ARGS=(--merge "$MERGE")
nvidia-smi -L 2>&1 | tee "$OUT/machine.txt"

stage() {  # stage NAME LIMIT_S ROWS
  echo "== $1: $3 (limit $2 s)" | tee -a "$OUT/reproduce.log"
  local start end
  start=$(date +%s)
  timeout "$2" python3 -m ltjax.reproduce cifar10_lt --workdir "$WORK" --seeds "${SEEDS:-3}" \
    --only "$3" "${MERGE_ARGS[@]}" --config.dataset.data_dir="$DATA" \
    --config.train.steps_per_dispatch="${STEPS_PER_DISPATCH:-8}" >>"$OUT/reproduce.log" 2>&1
  local rc=$?
  end=$(date +%s)
  echo "$1 rc=$rc wall_seconds=$((end - start))" | tee -a "$OUT/reproduce.log"
  cp "$WORK"/table.md "$WORK"/table.json "$WORK"/table.png "$OUT"/ 2>/dev/null
}

# RIDE-3 first: its wall time sizes the rest (a population of 3 seeds in one program).
stage ride 330 ride_e3,ride_router
stage baselines 330 ce,balanced_softmax,logit_adjusted,ldam_drw
stage decoupled 150 posthoc,crt,tau_norm,lws,ncm
stage focal 240 focal,cb_focal
stage ride_sizes 400 ride_e2,ride_e4
stage dlsa 200 dlsa
grep -E "rc=|^\| " "$OUT/reproduce.log" | tail -40
