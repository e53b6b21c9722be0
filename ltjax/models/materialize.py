"""`materialize(x)`: an identity that makes XLA keep `x` in memory instead of re-deriving it.

XLA's CPU fusion duplicates cheap elementwise producers into every consumer. In a ResNet's
backward pass each weight-gradient convolution transposes its input; with the block output left
unmaterialised, every such transpose became a strided, scalar re-computation of the stage's
whole residual chain (BatchNorm affine + add + ReLU of each earlier block), ~40% of the CIFAR
ResNet-32 train step on a 2-core CPU. `optimization_barrier` would be the natural tool, but the
CPU compiler removes it before fusion. A full-size division is one of the operations XLA will
not duplicate, so `materialize` divides by a traced 1.0 that cannot be folded away: the value is
computed once, stored, and every consumer reads it. x / 1.0 == x exactly.

Use it on training-mode block outputs only: in inference it just adds a pass over memory.
Measured lever by lever in `experiments/results/bench_cpu.md`.
"""

from __future__ import annotations

import jax


def materialize(x: jax.Array) -> jax.Array:
  """Returns x (bit for bit), computed once and stored (see the module docstring)."""
  one = 1.0 + 0.0 * jax.lax.stop_gradient(x.reshape(-1)[0])
  return x / one.astype(x.dtype)
