"""The one eval-mode forward pass every evaluation, prediction and feature extraction uses."""

from __future__ import annotations

from typing import Any, Sequence

import jax

from ltjax.data import augment


def target_logits(logits: jax.Array, num_targets: int | None) -> jax.Array:
  """The logits of the target classes: with auxiliary classes (category extrapolation) the
  head's auxiliary rows are dropped at inference, so no prediction is ever an auxiliary class."""
  return logits if num_targets is None else logits[..., :num_targets]


def apply_eval(model, state, images: jax.Array, *, mean: Sequence[float],
               std: Sequence[float], num_targets: int | None = None
               ) -> tuple[jax.Array, dict[str, Any]]:
  """(logits over the target classes, features) of uint8 `images` in eval mode (BatchNorm on
  its running statistics), normalised with `mean` / `std`."""
  x = augment.normalize(images, mean, std)
  logits, features = model.apply({"params": state.params, "batch_stats": state.batch_stats}, x,
                                 train=False)
  return target_logits(logits, num_targets), features
