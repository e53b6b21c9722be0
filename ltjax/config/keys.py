"""Dotted config keys ("loss.la_tau"): find one, set one, with an error that names the key."""

from __future__ import annotations

from typing import Any

import ml_collections


def parent_and_leaf(config: ml_collections.ConfigDict, key: str,
                    what: str = "config key") -> tuple[ml_collections.ConfigDict, str]:
  """(the ConfigDict holding `key`'s last part, that part); ValueError if no such leaf."""
  node = config
  *parents, leaf = key.split(".")
  for p in parents:
    if p not in node or not isinstance(node[p], ml_collections.ConfigDict):
      raise ValueError(f"{what} {key!r} is not a config key")
    node = node[p]
  if leaf not in node or isinstance(node[leaf], ml_collections.ConfigDict):
    raise ValueError(f"{what} {key!r} is not a config key")
  return node, leaf


def get_key(config: ml_collections.ConfigDict, key: str, what: str = "config key") -> Any:
  """The value of an existing dotted key (`what` starts the error message)."""
  node, leaf = parent_and_leaf(config, key, what)
  return node[leaf]


def set_value(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
  """Sets an existing dotted key (the ConfigDict's own type checks apply)."""
  node, leaf = parent_and_leaf(config, key)
  node[leaf] = value
