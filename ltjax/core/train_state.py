"""The train state: everything a training step reads and writes (Orbax saves exactly this)."""

from __future__ import annotations

from typing import Any

import flax
import jax


class TrainState(flax.struct.PyTreeNode):
  """Step counter, parameters, BatchNorm statistics and optimizer state."""

  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
