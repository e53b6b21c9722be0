"""The two checks every section's validation uses: a value from a list, a positive number."""

from __future__ import annotations

import math


def choice(value, allowed, key):
  if value not in allowed:
    raise ValueError(f"config.{key}={value!r} is not valid; choose one of {list(allowed)}")


def positive(value, key, allow_zero=False):
  """A finite number > 0 (>= 0 with allow_zero), else a ValueError naming the key."""
  ok = isinstance(value, (int, float)) and math.isfinite(value) and (
      value >= 0 if allow_zero else value > 0)
  if not ok:
    bound = ">= 0" if allow_zero else "> 0"
    raise ValueError(f"config.{key} must be a finite number {bound}, got {value!r}")
