"""Config key rules: each key's type and allowed values, declared next to its default.

A section of the config is declared as a mapping {name: Key(default, rule)} (a nested mapping
is a subsection); a frozen dataclass whose fields are config keys declares each rule in its
field (`name: int = rules.field(150, rules.COUNT)`). `ltjax.config.validate` checks every key of
the resolved config against its rule before any data loads, so a bad value ends in one
sentence that names the key:

    config.train.batch_size must be an integer >= 1, got 0

Relations between keys (two lists of equal length, a loss that needs a multi-expert model)
stay with the section that owns them (`plugins.Section.validate`), checked after every key
holds a value of its own rule's kind.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Callable, Iterable, Mapping


def _number_word(integer: bool) -> str:
  return "an integer" if integer else "a finite number"


@dataclasses.dataclass(frozen=True)
class Number:
  """A finite int or float (an int when `integer`) within optional bounds.

  Attributes:
    lo, hi: the bounds (None: unbounded on that side).
    lo_open, hi_open: the bound itself is excluded.
    integer: only ints (not bools, not floats such as 2.0).
  """

  lo: float | None = None
  hi: float | None = None
  lo_open: bool = False
  hi_open: bool = False
  integer: bool = False

  def describe(self) -> str:
    word = _number_word(self.integer)
    if self.lo is not None and self.hi is not None:
      return (f"{word} in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}"
              f"{')' if self.hi_open else ']'}")
    if self.lo is not None:
      return f"{word} {'>' if self.lo_open else '>='} {self.lo:g}"
    if self.hi is not None:
      return f"{word} {'<' if self.hi_open else '<='} {self.hi:g}"
    return word

  def accepts(self, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
      return False
    if self.integer and not isinstance(value, numbers.Integral):
      return False
    if not math.isfinite(value):
      return False
    if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
      return False
    if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
      return False
    return True

  def check(self, value: Any, key: str) -> None:
    if not self.accepts(value):
      raise ValueError(f"config.{key} must be {self.describe()}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Choice:
  """One of a list of values (a tuple, or a function giving the list when it is checked, for
  names that registries hold: models, objectives, stages)."""

  options: tuple | Callable[[], Iterable]

  def allowed(self) -> list:
    return list(self.options() if callable(self.options) else self.options)

  def check(self, value: Any, key: str) -> None:
    allowed = self.allowed()
    # `True in (1, 2)` holds in Python; a bool is never a valid choice.
    if isinstance(value, bool) or value not in allowed:
      raise ValueError(f"config.{key}={value!r} is not valid; choose one of {allowed}")


@dataclasses.dataclass(frozen=True)
class Flag:
  """True or False."""

  def check(self, value: Any, key: str) -> None:
    if not isinstance(value, bool):
      raise ValueError(f"config.{key} must be True or False, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Text:
  """A string (a path, a name, a spec parsed later); `nonempty` refuses ""."""

  nonempty: bool = False

  def check(self, value: Any, key: str) -> None:
    if not isinstance(value, str):
      raise ValueError(f"config.{key} must be a string, got {value!r}")
    if self.nonempty and not value.strip():
      raise ValueError(f"config.{key} must not be empty")


@dataclasses.dataclass(frozen=True)
class Items:
  """A tuple (or list) whose items each follow `item`.

  Attributes:
    item: the rule of every item.
    min_len: the fewest items.
    increasing: items must not decrease (a schedule's epochs).
  """

  item: Any
  min_len: int = 0
  increasing: bool = False

  def check(self, value: Any, key: str) -> None:
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
      raise ValueError(f"config.{key} must be a tuple (--config.{key}=a,b), got {value!r}")
    if len(value) < self.min_len:
      raise ValueError(f"config.{key} needs at least {self.min_len} item(s), got {value!r}")
    for i, v in enumerate(value):
      self.item.check(v, f"{key}[{i}]")
    if self.increasing and list(value) != sorted(value):
      raise ValueError(f"config.{key} must not decrease, got {tuple(value)}")


@dataclasses.dataclass(frozen=True)
class Optional:
  """None, or a value of `rule` (a dataclass field whose config key encodes None otherwise)."""

  rule: Any

  def check(self, value: Any, key: str) -> None:
    if value is not None:
      self.rule.check(value, key)


# The rules most keys use.
COUNT = Number(lo=1, integer=True)  # epochs, batch sizes, steps
NON_NEGATIVE_INT = Number(lo=0, integer=True)  # 0 meaning "off" / "all"
SEED = Number(lo=0, integer=True)
POSITIVE = Number(lo=0, lo_open=True)
NON_NEGATIVE = Number(lo=0)
REAL = Number()  # any finite number
UNIT = Number(lo=0, hi=1)  # a probability, a fraction
UNIT_OPEN = Number(lo=0, hi=1, hi_open=True)  # [0, 1)


@dataclasses.dataclass(frozen=True)
class Key:
  """A config key's default and its rule."""

  default: Any
  rule: Any


def field(default: Any, rule: Any) -> Any:
  """A dataclass field that is a config key: its default and its rule."""
  return dataclasses.field(default=default, metadata={"rule": rule})


def keys_of(cls, exclude: Iterable[str] = ()) -> dict[str, Key]:
  """{field: Key} of a dataclass whose fields declare their rules (`field`)."""
  out = {}
  for f in dataclasses.fields(cls):
    if f.name in exclude:
      continue
    if "rule" not in f.metadata:
      raise TypeError(f"{cls.__qualname__}.{f.name} is a config key without a rule: declare it "
                      "with ltjax.core.rules.field(default, rule)")
    out[f.name] = Key(f.default, f.metadata["rule"])
  return out


def check_fields(obj: Any, prefix: str) -> None:
  """Checks each field of a dataclass instance that declares a rule (a library user's
  `DLSAConfig(...)` gets the same sentence as a config key)."""
  for f in dataclasses.fields(obj):
    if "rule" in f.metadata:
      f.metadata["rule"].check(getattr(obj, f.name), f"{prefix}.{f.name}")


def defaults(keys: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """{name: default} of a declared section, subsections as nested dicts."""
  out = {}
  for name, k in keys.items():
    if isinstance(k, Mapping):
      out[name] = defaults(k, f"{prefix}{name}.")
    elif isinstance(k, Key):
      out[name] = k.default
    else:
      raise _undeclared(f"{prefix}{name}", k)
  return out


def _undeclared(dotted: str, k: Any) -> TypeError:
  return TypeError(f"config key {dotted!r} is declared as {k!r}: declare it as "
                   "ltjax.core.rules.Key(default, rule)")


def flatten(keys: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """{dotted key: rule} of a declared (possibly nested) section."""
  out = {}
  for name, k in keys.items():
    dotted = f"{prefix}{name}"
    if isinstance(k, Mapping):
      out.update(flatten(k, dotted + "."))
    elif isinstance(k, Key):
      out[dotted] = k.rule
    else:
      raise _undeclared(dotted, k)
  return out
