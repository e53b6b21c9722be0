"""Hand-built DLSA inputs whose filtering and make-up are known by construction."""

import numpy as np

# A hand-built filtering case (train counts 104 / 24 / 16 / 16: one many-, one medium- and two
# few-shot classes). The fake flow scores by column 0; the top 30 % of train (48 of 160: 6, 12,
# 15 and 15 of the four classes) and the test (2, 2, 4, 0 of 8 each) and val (1, 0, 0, 3 of 4
# each) samples marked here score above the threshold.
MAKE_UP_TRAIN_COUNTS = (104, 24, 16, 16)
MAKE_UP_KEPT = {"train": (6, 12, 15, 15), "val": (1, 0, 0, 3), "test": (2, 2, 4, 0)}
MAKE_UP_SIZES = {"train": MAKE_UP_TRAIN_COUNTS, "val": (4, 4, 4, 4), "test": (8, 8, 8, 8)}
# Shares by hand: train 6/48, 12/48, 30/48; val 1/4, 0/4, 3/4; test 2/8, 2/8, 4/8.
MAKE_UP_SHARES = {"train": {"many": 0.125, "medium": 0.25, "few": 0.625},
                  "val": {"many": 0.25, "medium": 0.0, "few": 0.75},
                  "test": {"many": 0.25, "medium": 0.25, "few": 0.5}}


def make_up_split(name, dim=3, seed=0):
  """{"features", "labels"} of split `name` of the hand-built case above."""
  rng = np.random.RandomState(seed)
  sizes, kept = MAKE_UP_SIZES[name], MAKE_UP_KEPT[name]
  labels = np.repeat(np.arange(len(sizes)), sizes)
  chosen = np.concatenate([np.arange(k) + sum(sizes[:c]) for c, k in enumerate(kept)])
  score = -1000.0 - np.arange(len(labels))  # distinct, far below every kept sample
  score[chosen] = 1000.0 + np.arange(len(chosen))
  feats = np.concatenate([score[:, None], rng.randn(len(labels), dim - 1)], axis=1)
  return {"features": feats.astype(np.float32), "labels": labels}
