r"""DLSA flow-training throughput and memory at ImageNet-scale feature widths.

  python experiments/bench_dlsa.py --dims 512,2048 --kinds maf,coupling --steps 10

For each (kind, D): one jitted, data-sharded flow step (`ltjax.dlsa.flow_training`, K = 500,
batch 1024 anchors + 1024 negatives, the reference's loss) on random features, timed over
`--steps` steps after compilation; plus log p(x) evaluation throughput over 4096-row chunks.
Prints steps/s, samples/s, compile time, parameter count and peak memory (device memory stats
where the backend has them, else the process's peak RSS). Figures only; nothing is asserted.
Use the machine to itself.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ltjax.core import sharding
from ltjax.dlsa import flow_training
from ltjax.dlsa import mixture
from ltjax.models import flows


def peak_memory_mb() -> tuple[float, str]:
  stats = jax.devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2**20, "device peak"
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "host peak RSS"


def bench(kind: str, dim: int, steps: int, batch: int, clusters: int) -> dict:
  mesh = sharding.make_data_mesh()
  fc = flow_training.FlowConfig(kind=kind, num_clusters=clusters, batch_size=batch)
  flow = flows.build_flow(kind, dim, num_blocks=2)
  means = mixture.random_means(jax.random.key(1), clusters, dim)
  variables = flow.init(jax.random.key(0), jnp.zeros((2, dim)))
  tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.2)
  state = flow_training.FlowState(
      step=jnp.zeros((), jnp.int32), params=variables["params"],
      batch_stats=variables["batch_stats"], opt_state=tx.init(variables["params"]),
      balance_ema=jnp.zeros((clusters,)), skipped=jnp.zeros((), jnp.int32))
  state = jax.device_put(state, sharding.replicated(mesh))
  step = jax.jit(flow_training.make_flow_step(flow, means, tx, fc), donate_argnums=(0,))
  rng = np.random.RandomState(0)
  feed = sharding.global_batch(mesh, {
      "anchor": rng.randn(batch, dim).astype(np.float32),
      "negative": rng.randn(batch, dim).astype(np.float32),
      "weight": np.full(batch, 1e-3, np.float32)})
  start = time.time()
  state, m = step(state, feed)
  jax.block_until_ready(m)
  compile_s = time.time() - start
  start = time.time()
  for _ in range(steps):
    state, m = step(state, feed)
  jax.block_until_ready(m)
  step_s = (time.time() - start) / steps
  evaluate = flow_training.make_flow_eval(flow, means, 4096)
  host = {"params": state.params, "batch_stats": state.batch_stats}
  x = rng.randn(8192, dim).astype(np.float32)
  evaluate(host, x[:4096])  # compile
  start = time.time()
  evaluate(host, x)
  eval_s = time.time() - start
  mem, what = peak_memory_mb()
  params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(variables["params"]))
  return {"kind": kind, "dim": dim, "params": params, "compile_s": compile_s,
          "steps_per_s": 1 / step_s, "pairs_per_s": batch / step_s,
          "eval_per_s": len(x) / eval_s, "peak_mb": mem, "memory": what,
          "finite": bool(m["finite"])}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dims", default="512,2048")
  parser.add_argument("--kinds", default="maf,coupling")
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--batch", type=int, default=1024)
  parser.add_argument("--clusters", type=int, default=500)
  args = parser.parse_args()
  print(f"{platform.processor() or platform.machine()}, devices {jax.devices()}")
  print("| flow | D | params | compile (s) | steps/s | pairs/s | eval samples/s | peak MB |")
  print("|---|---|---|---|---|---|---|---|")
  for dim in (int(d) for d in args.dims.split(",")):
    for kind in args.kinds.split(","):
      r = bench(kind, dim, args.steps, args.batch, args.clusters)
      print(f"| {kind} | {dim} | {r['params']:,} | {r['compile_s']:.1f} | "
            f"{r['steps_per_s']:.2f} | {r['pairs_per_s']:.0f} | {r['eval_per_s']:.0f} | "
            f"{r['peak_mb']:.0f} ({r['memory']}) |", flush=True)


if __name__ == "__main__":
  main()
