"""Pure per-example losses for long-tailed classification.

`LOSSES` maps a config name to a function `(logits, labels, class_counts) -> (B,)` so the
trainer can pick a loss by name; the functions themselves are the public API.
"""

from ltjax.losses.classification import cross_entropy
from ltjax.losses.classification import weighted_mean


def _ce(logits, labels, class_counts):
  del class_counts  # plain cross-entropy ignores the training distribution
  return cross_entropy(logits, labels)


LOSSES = {"ce": _ce}


def get_loss(name: str):
  """The trainer-facing loss `(logits, labels, class_counts) -> (B,)` registered as `name`."""
  if name not in LOSSES:
    raise ValueError(f"unknown loss {name!r}; known losses: {sorted(LOSSES)}")
  return LOSSES[name]
