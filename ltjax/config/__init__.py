"""Configs: `default_config()` (every key and its default), `validate(config)`, the resume
fingerprint, the `:smoke` helper and the dataset recipes.

Each method owns its section (`ltjax.<method>.config`: defaults and checks) and its recipes
(`ltjax.<method>.recipes`). The recipes that used to live here stay reachable under their old
names (`ltjax.config.ride_cifar_recipe`, ...), loaded from their rooms on first use.
"""

import importlib

from ltjax.config.defaults import data_dir
from ltjax.config.defaults import DATASETS
from ltjax.config.defaults import default_config
from ltjax.config.defaults import SOURCES
from ltjax.config.fingerprint import fingerprint_changes
from ltjax.config.fingerprint import NON_RESULT_KEYS
from ltjax.config.fingerprint import result_fingerprint
from ltjax.config.recipes import cifar_lt_recipe
from ltjax.config.recipes import digits_lt_recipe
from ltjax.config.smoke import config_arg
from ltjax.config.smoke import shrink_for_smoke
from ltjax.config.validation import SOFT_TARGET_LOSSES
from ltjax.config.validation import validate

# Old name -> the room that owns it now.
_MOVED = {
    "ride_cifar_recipe": "ltjax.ride.recipes",
    "ride_imagenet_recipe": "ltjax.ride.recipes",
    "ride_router_stage": "ltjax.ride.recipes",
    "decoupled_stage": "ltjax.decoupled.recipes",
    "DEMO_VARIANTS": "ltjax.granularity.recipes",
    "split_variant_arg": "ltjax.granularity.recipes",
    "extrapolation_demo": "ltjax.granularity.recipes",
    "extrapolation_vit_recipe": "ltjax.granularity.recipes",
    "dlsa_recipe": "ltjax.dlsa.recipes",
    "dlsa_small_features": "ltjax.dlsa.recipes",
    "dlsa_smoke": "ltjax.dlsa.recipes",
}


def __getattr__(name):
  if name in _MOVED:
    return getattr(importlib.import_module(_MOVED[name]), name)
  raise AttributeError(f"module 'ltjax.config' has no attribute {name!r}")


__all__ = ["DATASETS", "SOURCES", "NON_RESULT_KEYS", "SOFT_TARGET_LOSSES", "cifar_lt_recipe",
           "config_arg", "data_dir", "default_config", "digits_lt_recipe",
           "fingerprint_changes", "result_fingerprint", "shrink_for_smoke", "validate",
           *_MOVED]
