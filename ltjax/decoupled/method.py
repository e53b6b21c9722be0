"""A decoupled stage-2 method as a registry entry (`ltjax.decoupled.stage.METHODS`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class Method:
  """A decoupled stage-2 method: a registry entry of `METHODS`.

  Attributes:
    fit: (config, train, val, head) -> (logits_fn(split arrays) -> logits, extra results);
      the splits are `feature_cache.load_split` dicts, head `feature_cache.load_head`'s.
    tuned: its strength is tuned on the validation split (which it then needs).
    needs_head: it reads the stage-1 single linear classifier (features/head.npz).
    needs_experts: it reads per-expert logits / features (a multi-expert stage-1 run).
    report: optional (stage1_workdir, extra, class_counts, test split) -> None that adds the
      method's own test-split report to `extra`.
  """

  fit: Callable[..., tuple[Callable, dict[str, Any]]]
  tuned: bool = False
  needs_head: bool = False
  needs_experts: bool = False
  report: Callable[..., None] | None = None
