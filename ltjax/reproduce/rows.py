"""A table row's resolved config for one seed: its config file under the schedule, the
table's, the schedule's, the row's and the command line's overrides, and the finished runs it
reads."""

from __future__ import annotations

import ast
import importlib.util
import os
from typing import Any

import ml_collections

from ltjax.config import keys as config_keys
from ltjax.core import plugins
from ltjax.reproduce import spec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_config_file(path: str, arg: str) -> ml_collections.ConfigDict:
  """`get_config(arg)` of a config file (relative to the repository or absolute)."""
  full = path if os.path.isabs(path) else os.path.join(REPO, path)
  if not os.path.exists(full):
    raise FileNotFoundError(f"config file {full} does not exist")
  module_spec = importlib.util.spec_from_file_location("ltjax_reproduce_row", full)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def parse_override(text: str) -> tuple[str, str]:
  """'--config.dataset.data_dir=/data' (or without the dashes) -> ('dataset.data_dir', '/data')."""
  body = text[2:] if text.startswith("--") else text
  if not body.startswith("config.") or "=" not in body:
    raise ValueError(f"{text!r}: write config overrides as --config.<key>=<value>")
  key, value = body[len("config."):].split("=", 1)
  if key.startswith("population."):
    raise ValueError(f"{text!r}: reproduce makes its own populations; give the number of seeds "
                     "with --seeds N")
  return key, value


def _typed(current: Any, value: Any, key: str) -> Any:
  if not isinstance(value, str) or isinstance(current, str):
    return value
  if isinstance(current, bool):
    if value.lower() not in ("true", "false"):
      raise ValueError(f"--config.{key}={value!r}: expected True or False")
    return value.lower() == "true"
  if isinstance(current, (int, float)):
    try:
      return int(value) if isinstance(current, int) and value.lstrip("-").isdigit() else float(
          value)
    except ValueError:
      raise ValueError(f"--config.{key}={value!r}: expected a number") from None
  if isinstance(current, tuple):
    parsed = ast.literal_eval(value if value.strip().startswith("(") else f"({value},)")
    return tuple(parsed)
  return value


def set_key(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
  """Sets a dotted key that must exist, typing a string value like the key's current value."""
  node, leaf = config_keys.parent_and_leaf(config, key, f"--config.{key}:")
  node[leaf] = _typed(node[leaf], value, key)


def row_arg(row: spec.Row, schedule: str) -> str:
  if schedule == "smoke":
    return f"{row.arg},smoke" if row.arg else "smoke"
  return row.arg


def resolve(table: spec.Table, row: spec.Row, seed: int, schedule: str,
            cli_overrides: list[tuple[str, str]],
            dependency_dirs: dict[str, str]) -> ml_collections.ConfigDict:
  """The row's config for `seed`, reading the finished runs in `dependency_dirs`
  ({"builds_on" | "teacher": run directory})."""
  c = load_config_file(row.config, row_arg(row, schedule))
  for key, value in table.overrides:
    set_key(c, key, value)
  if schedule == "short":
    for key, value in table.short:
      set_key(c, key, value)
  for key, value in row.overrides:
    set_key(c, key, value)
  for key, value in cli_overrides:
    set_key(c, key, value)
  c.seed = seed
  for role, directory in dependency_dirs.items():
    key = plugins.run_input_key(role, c.stage)
    if key is None:
      raise ValueError(f"row {row.name}: no registered method reads a {role} run at "
                       f"config.stage={c.stage!r} (builds_on is for later stages such as "
                       "decoupled / DLSA / routing rows, teacher for distillation)")
    set_key(c, key, directory)
  return c
