#!/usr/bin/env bash
# The GPU half of the population issue, as one script with a time limit per stage; every stage
# writes its log under $OUT as it goes, so a run cut short still leaves what it measured.
#   1. one CIFAR-10-LT RIDE-3 run, 200 epochs, cold compilation cache: wall time, top-1;
#   2. the same command again with the cache warm (start-up = compile + data placement);
#   3. a population of 5 seeds of the same run in one program (vmap): wall time, mean ± std;
#   4. population throughput against member count (bench.py population, 1 / 2 / 4 / 8 / 16);
#   5. the train step against PyTorch eager, torch.compile and CUDA graphs (bench.py train);
#   6. the PyTorch RIDE-3 baseline on the same data, capped at TORCH_SECONDS (extrapolated).
#
#   DATA=dir/with/cifar10.npz OUT=results/dir bash experiments/gpu_population.sh
# Optional: STEPS_PER_DISPATCH (8), RUN_LIMIT_S (150), POP_LIMIT_S (240), TORCH_SECONDS (45).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATA:?set DATA to the directory holding cifar10.npz (or cifar-10-batches-py/)}"
: "${OUT:?set OUT to a directory for the logs}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
K="${STEPS_PER_DISPATCH:-8}"
# JAX's persistent compilation cache: the second run of a config skips XLA compilation.
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-/tmp/ltjax_xla_cache}"
COMMON=(--config configs/cifar10_lt/ride_e3.py --config.dataset.data_dir="$DATA"
        --config.train.steps_per_dispatch="$K")

nvidia-smi -L 2>&1 | tee "$OUT/machine.txt"
python3 -c "import jax, flax, optax, torch; print('jax', jax.__version__, jax.devices(), 'flax', \
flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__)" 2>&1 | tee -a "$OUT/machine.txt"

timed() {  # timed LIMIT LOG command...: runs it under a limit, appends wall seconds to LOG
  local limit=$1 log=$2; shift 2
  local start end rc
  start=$(date +%s.%N)
  timeout "$limit" "$@" >>"$log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  echo "rc=$rc wall_seconds=$(python3 -c "print(round($end - $start, 1))")" | tee -a "$log"
}

echo "== 1. single RIDE-3 run, cold cache" | tee "$OUT/single_cold.txt"
rm -rf /tmp/ltjax_pop_single1 "$JAX_COMPILATION_CACHE_DIR"
timed "${RUN_LIMIT_S:-150}" "$OUT/single_cold.txt" python3 -m ltjax.main "${COMMON[@]}" \
  --workdir /tmp/ltjax_pop_single1
cp /tmp/ltjax_pop_single1/results.json "$OUT/single_results.json" 2>/dev/null

echo "== 2. single RIDE-3 run, warm cache" | tee "$OUT/single_warm.txt"
rm -rf /tmp/ltjax_pop_single2
timed "${RUN_LIMIT_S:-150}" "$OUT/single_warm.txt" python3 -m ltjax.main "${COMMON[@]}" \
  --workdir /tmp/ltjax_pop_single2

echo "== 3. population of 5 seeds, one program" | tee "$OUT/population.txt"
rm -rf /tmp/ltjax_pop5
timed "${POP_LIMIT_S:-240}" "$OUT/population.txt" python3 -m ltjax.main "${COMMON[@]}" \
  --workdir /tmp/ltjax_pop5 --config.population.seeds=0,1,2,3,4
cp /tmp/ltjax_pop5/population.json "$OUT/population.json" 2>/dev/null

echo "== 4. population throughput vs members" | tee "$OUT/throughput.txt"
for n in 1 2 4 8 16; do
  timeout 60 python3 experiments/bench.py population --workloads cifar10_lt --executions vmap \
    --members "$n" --population-cifar-steps 50 --data-dir "$DATA" 2>&1 \
    | grep -E "^\|" >>"$OUT/throughput.txt"
done
cat "$OUT/throughput.txt"

echo "== 5. train step: ltjax vs PyTorch eager / torch.compile / CUDA graphs" | tee "$OUT/bench.txt"
timeout 240 python3 experiments/bench.py train --steps 100 --dtype fp32,bf16 \
  --torch-modes eager,compile,cudagraphs --steps-per-dispatch "$K" >>"$OUT/bench.txt" 2>&1
echo "bench rc=$?" | tee -a "$OUT/bench.txt"

echo "== 6. PyTorch RIDE-3 baseline (eager)" | tee "$OUT/torch.txt"
timeout 90 python3 experiments/torch_ride_baseline.py --data "$DATA" --epochs 200 \
  --max-seconds "${TORCH_SECONDS:-45}" >>"$OUT/torch.txt" 2>&1
echo "torch rc=$?" | tee -a "$OUT/torch.txt"

grep -h "wall_seconds" "$OUT"/single_cold.txt "$OUT"/single_warm.txt "$OUT"/population.txt
tail -2 "$OUT/torch.txt"
