"""Where a config's local files live."""

from __future__ import annotations

import os


def data_dir(config) -> str:
  """The resolved local data directory: `dataset.data_dir`, else $LTJAX_DATA_DIR, else
  ./data."""
  return config.dataset.data_dir or os.environ.get("LTJAX_DATA_DIR", "data")
