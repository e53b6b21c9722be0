"""The declared reproduction tables, one small file per benchmark (`TABLES[name]()` loads
one)."""

from __future__ import annotations

import importlib

from ltjax.reproduce import spec

# name -> (module, attribute): loaded on use.
_TABLES = {
    "digits_lt": ("ltjax.reproduce.tables.digits_lt", "TABLE"),
    "cifar10_lt": ("ltjax.reproduce.tables.cifar10_lt", "IF100"),
    "cifar10_lt_if50": ("ltjax.reproduce.tables.cifar10_lt", "IF50"),
    "cifar10_lt_if10": ("ltjax.reproduce.tables.cifar10_lt", "IF10"),
    "cifar100_lt": ("ltjax.reproduce.tables.cifar100_lt", "IF100"),
    "cifar100_lt_if50": ("ltjax.reproduce.tables.cifar100_lt", "IF50"),
    "cifar100_lt_if10": ("ltjax.reproduce.tables.cifar100_lt", "IF10"),
    "imagenet_lt": ("ltjax.reproduce.tables.imagenet_lt", "TABLE"),
    "extrapolation_digits": ("ltjax.reproduce.tables.extrapolation", "DIGITS"),
    "extrapolation_cifar10": ("ltjax.reproduce.tables.extrapolation", "CIFAR10"),
    "extrapolation_imagenet_lt": ("ltjax.reproduce.tables.extrapolation_vit", "IMAGENET_LT"),
    "extrapolation_inat2018": ("ltjax.reproduce.tables.extrapolation_vit", "INAT2018"),
    "extrapolation_places_lt": ("ltjax.reproduce.tables.extrapolation_vit", "PLACES_LT"),
    "dlsa_digits": ("ltjax.reproduce.tables.dlsa", "DIGITS"),
}
NAMES = tuple(_TABLES)


def load(name: str) -> spec.Table:
  if name not in _TABLES:
    raise ValueError(f"no reproduction table {name!r}; choose one of {list(_TABLES)}")
  module, attribute = _TABLES[name]
  return getattr(importlib.import_module(module), attribute)
