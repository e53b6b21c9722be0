"""Configs: `default_config()` (every key and its default), `validate(config)`, the resume
fingerprint, the `:smoke` helper and the dataset recipes.

The shared sections are defined here; each method room adds its own through its record
(`ltjax.core.plugins.MethodRecord`), with its recipes in `ltjax.<method>.recipes`.
"""

from ltjax.config.defaults import DATASETS
from ltjax.config.defaults import default_config
from ltjax.config.defaults import key_rules
from ltjax.config.defaults import SOURCES
from ltjax.config.fingerprint import fingerprint_changes
from ltjax.config.fingerprint import NON_RESULT_KEYS
from ltjax.config.fingerprint import result_fingerprint
from ltjax.config.fingerprint import run_identity
from ltjax.config.recipes import cifar_lt_recipe
from ltjax.config.recipes import digits_lt_recipe
from ltjax.config.smoke import config_arg
from ltjax.config.smoke import shrink_for_smoke
from ltjax.config.validation import validate
from ltjax.data.paths import data_dir

__all__ = ["DATASETS", "SOURCES", "NON_RESULT_KEYS", "cifar_lt_recipe", "config_arg",
           "data_dir", "default_config", "fingerprint_changes", "key_rules", "result_fingerprint",
           "run_identity", "shrink_for_smoke", "validate"]
