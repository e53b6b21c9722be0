"""Training metrics for people and tools: JSON lines (pandas) and TensorBoard event files.

Only process 0 writes. `metrics.jsonl` reads with `pandas.read_json(path, lines=True)`;
the event files under `<workdir>/tensorboard` read with `tensorboard --logdir`. TensorBoard
files are written with tensorboardX because CLU's writers import TensorFlow, which ltjax
does not need.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import jax


class MetricLog:
  """Appends {"step": s, **scalars} lines and TensorBoard scalars."""

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    self._file = None
    self._tb = None
    if not self.enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._file = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
    try:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
    except ImportError:
      self._tb = None

  def write(self, step: int, scalars: dict[str, Any]) -> None:
    if not self.enabled:
      return
    values = {k: (None if v is None else float(v)) for k, v in scalars.items()}
    # Strict JSON: a non-finite value is written as null and named under "nonfinite".
    clean = {k: (v if v is None or math.isfinite(v) else None) for k, v in values.items()}
    row = {"step": int(step), **clean}
    nonfinite = sorted(k for k, v in values.items() if v is not None and not math.isfinite(v))
    if nonfinite:
      row["nonfinite"] = nonfinite
    self._file.write(json.dumps(row, allow_nan=False) + "\n")
    self._file.flush()
    if self._tb is not None:
      for k, v in clean.items():
        if v is not None:
          self._tb.add_scalar(k, v, int(step))

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
    if self._tb is not None:
      self._tb.close()
