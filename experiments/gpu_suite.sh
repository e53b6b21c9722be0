#!/usr/bin/env bash
# The GPU half of issue 8, as one script (a lent GPU is short of time, so every stage has its own
# limit and writes its log as it goes):
#   1. the full CIFAR-10-LT RIDE 3-expert run (configs/cifar10_lt/ride_e3.py, 200 epochs), wall
#      time and top-1;
#   2. bench.py train on the GPU (ResNet-32 and RIDE-3, fp32 and bf16, ltjax vs PyTorch);
#   3. the PyTorch RIDE-3 baseline (experiments/torch_ride_baseline.py) on the same data, capped
#      at TORCH_SECONDS of training, its 200-epoch time extrapolated from the epochs it ran.
#
#   DATA=dir/with/cifar10.npz OUT=results/dir bash experiments/gpu_suite.sh
# Optional: STEPS_PER_DISPATCH (8), RIDE_LIMIT_S (240), BENCH_STEPS (100), TORCH_SECONDS (60).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${DATA:?set DATA to the directory holding cifar10.npz (or cifar-10-batches-py/)}"
: "${OUT:?set OUT to a directory for the logs}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
K="${STEPS_PER_DISPATCH:-8}"

nvidia-smi -L 2>&1 | tee "$OUT/machine.txt"
python3 -c "import jax, flax, optax, torch; print('jax', jax.__version__, jax.devices(), 'flax', \
flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__)" 2>&1 | tee -a "$OUT/machine.txt"
if ! python3 -c "import ltjax, jax; jax.devices()" >/dev/null 2>&1; then
  echo "ltjax's XLA CPU defaults rejected by this jaxlib: running with LTJAX_XLA_DEFAULTS=0" \
    | tee -a "$OUT/machine.txt"
  export LTJAX_XLA_DEFAULTS=0
fi

echo "== 1. ltjax RIDE-3 CIFAR-10-LT, 200 epochs, $K steps per dispatch" | tee "$OUT/ride.txt"
start=$(date +%s.%N)
timeout "${RIDE_LIMIT_S:-240}" python3 -m ltjax.main --config configs/cifar10_lt/ride_e3.py \
  --workdir /tmp/ltjax_ride_e3 --config.dataset.data_dir="$DATA" \
  --config.train.steps_per_dispatch="$K" >>"$OUT/ride.txt" 2>&1
rc=$?
end=$(date +%s.%N)
echo "ltjax rc=$rc wall_seconds=$(python3 -c "print(round($end - $start, 1))")" | tee -a "$OUT/ride.txt"
cp /tmp/ltjax_ride_e3/results.json "$OUT/ride_results.json" 2>/dev/null
cp /tmp/ltjax_ride_e3/metrics.jsonl "$OUT/ride_metrics.jsonl" 2>/dev/null

echo "== 2. bench.py train" | tee "$OUT/bench.txt"
timeout 150 python3 experiments/bench.py train --steps "${BENCH_STEPS:-100}" --dtype fp32,bf16 \
  >>"$OUT/bench.txt" 2>&1
echo "bench rc=$?" | tee -a "$OUT/bench.txt"

echo "== 3. PyTorch RIDE-3 baseline" | tee "$OUT/torch.txt"
timeout 150 python3 experiments/torch_ride_baseline.py --data "$DATA" --epochs 200 \
  --max-seconds "${TORCH_SECONDS:-60}" >>"$OUT/torch.txt" 2>&1
echo "torch rc=$?" | tee -a "$OUT/torch.txt"

grep -E "ltjax rc|top1|test " "$OUT/ride.txt" | tail -12
grep -E "^\|" "$OUT/bench.txt"
tail -2 "$OUT/torch.txt"
