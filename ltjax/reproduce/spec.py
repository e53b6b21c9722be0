"""What a reproduction table declares: its rows (a config, what it builds on, the published
number with its source, a tolerance) and its schedules."""

from __future__ import annotations

import dataclasses
from typing import Any

SCHEDULES = ("full", "smoke", "short")


@dataclasses.dataclass(frozen=True)
class Published:
  """A published result, in percent, with where it was published.

  Attributes:
    top1: overall top-1; many / medium / few where the source gives them.
    source: paper and table (or repository file) the number comes from.
  """

  top1: float
  source: str
  many: float | None = None
  medium: float | None = None
  few: float | None = None


@dataclasses.dataclass(frozen=True)
class Row:
  """One row of a reproduction table.

  Attributes:
    name: the row's name (and its runs' folder).
    config: a config file under configs/ (relative to the repository).
    arg: the config file's `:arg` for the full schedule ("" = none); the smoke schedule
      appends "smoke".
    builds_on: the row whose finished run (same seed) this row reads: stage-1 features of a
      decoupled or DLSA row, the experts of a routing row.
    teacher: the row whose finished run (same seed) is this row's distillation teacher.
    published: the published number, or None when none was ever published (the table says so
      rather than borrowing one).
    tolerance: points of top-1 within which the row counts as reproduced.
    overrides: config values this row sets ({dotted key: value}).
    note: shown beside the row.
  """

  name: str
  config: str
  arg: str = ""
  builds_on: str | None = None
  teacher: str | None = None
  published: Published | None = None
  tolerance: float = 1.5
  overrides: tuple[tuple[str, Any], ...] = ()
  note: str = ""


@dataclasses.dataclass(frozen=True)
class Table:
  """A benchmark's reproduction table.

  Attributes:
    name: what `python -m ltjax.reproduce NAME` takes.
    title: the table's heading.
    rows: in the order the table prints them (run order follows the dependencies).
    overrides: config values every row gets (e.g. the imbalance factor).
    short: a declared short schedule ({dotted key: value}), clearly not the paper's; empty
      when the table has none.
    data_note: what the data is (shown under the title).
  """

  name: str
  title: str
  rows: tuple[Row, ...]
  overrides: tuple[tuple[str, Any], ...] = ()
  short: tuple[tuple[str, Any], ...] = ()
  data_note: str = ""

  def row(self, name: str) -> Row:
    for r in self.rows:
      if r.name == name:
        return r
    raise ValueError(f"table {self.name} has no row {name!r}; its rows: "
                     f"{', '.join(r.name for r in self.rows)}")
