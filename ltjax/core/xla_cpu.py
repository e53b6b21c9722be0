"""XLA CPU options that ltjax sets at import time, and how to override them.

On CPU, XLA (jaxlib 0.10) hands each convolution to its YNNPACK path by default. For the
small-channel 3x3 convolutions of CIFAR ResNets the Eigen path it falls back to is faster:
on a 2-core AVX-512 machine the ResNet-32 train step went from ~155 to ~190-210 img/s and its
forward pass from ~680 to ~800 img/s (`experiments/results/bench_cpu.md`, lever by lever).

`apply_defaults()` appends `DEFAULT_FLAGS` to `XLA_FLAGS` unless
  - the environment sets `LTJAX_XLA_DEFAULTS=0` (keep XLA's own defaults), or
  - `XLA_FLAGS` already names the same flag (the user's value wins), or
  - the installed jaxlib predates the flags (an unknown XLA flag aborts the process).
XLA reads the variable once, when JAX creates its first backend: `import ltjax` before running
any JAX computation (the command line does). GPU and TPU backends ignore these CPU options.
"""

from __future__ import annotations

import os
from typing import MutableMapping

DEFAULT_FLAGS = (
    # Convolutions via Eigen instead of YNNPACK (the other YNN fusions stay on).
    "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
)
# The first jaxlib these flags were validated with (older ones may not know them).
_MIN_JAXLIB = (0, 10)


def _jaxlib_version() -> tuple[int, ...]:
  try:
    import jaxlib  # pylint: disable=g-import-not-at-top
  except ImportError:
    return ()
  parts = []
  for part in jaxlib.__version__.split(".")[:2]:
    digits = "".join(ch for ch in part if ch.isdigit())
    parts.append(int(digits or 0))
  return tuple(parts)


def apply_defaults(environ: MutableMapping[str, str] | None = None,
                   jaxlib_version: tuple[int, ...] | None = None) -> list[str]:
  """Adds the default flags to `environ["XLA_FLAGS"]`; returns the flags it added."""
  environ = os.environ if environ is None else environ
  if environ.get("LTJAX_XLA_DEFAULTS", "1").strip().lower() in ("0", "false", "no", "off"):
    return []
  version = _jaxlib_version() if jaxlib_version is None else jaxlib_version
  if version < _MIN_JAXLIB:
    return []
  existing = environ.get("XLA_FLAGS", "")
  added = [flag for flag in DEFAULT_FLAGS if flag.split("=")[0] not in existing]
  if added:
    environ["XLA_FLAGS"] = " ".join([existing, *added]).strip()
  return added
