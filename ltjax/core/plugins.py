"""Method records: what a method room contributes, and the registry the framework reads.

The framework (config, data, models, losses, train, runs, core) never imports a method room.
Each room (`ltjax/ride`, `ltjax/granularity`, `ltjax/decoupled`, `ltjax/dlsa`, or a user's own
package) describes itself with one `MethodRecord` and `register`s it; `ltjax.methods` lists
the rooms installed with ltjax and is imported by the entry points (`ltjax.main`,
`ltjax.reproduce`, `ltjax.dlsa.feature_report`) and the tests. The framework then iterates
the records: config defaults and validation, the resume fingerprint, population sharing
rules, the stage list, the objectives, stage-2 entries and the training-time hooks.

    from ltjax.core import plugins
    plugins.register(plugins.MethodRecord(name="mine", objectives={"mine": ...}))
"""

from __future__ import annotations

import collections.abc
import dataclasses
from typing import Any, Callable, Iterator, Mapping

import numpy as np


@dataclasses.dataclass(frozen=True)
class Section:
  """A top-level config section a method owns (`config.<name>`).

  Attributes:
    name: the section's key (e.g. "aux").
    defaults: () -> {key: ltjax.core.rules.Key(default, rule)} (a nested dict is a
      subsection): every key with its default and its rule, which `config.validate` checks.
    validate: optional (full config) -> None raising ValueError that names the keys and the
      fix for a bad combination of keys (each key's own rule is checked before).
    stage_only: the training stage never reads it (a later stage's settings): it is not part
      of a training run's resume fingerprint.
    shared: the members of a population must agree on it (it defines the data or the
      loop), so a population sweep of its keys is refused.
    smoke: optional (full config) -> None shrinking the section for a `:smoke` run.
  """

  name: str
  defaults: Callable[[], Any]
  validate: Callable[[Any], None] | None = None
  stage_only: bool = False
  shared: bool = False
  smoke: Callable[[Any], None] | None = None


@dataclasses.dataclass(frozen=True)
class RunInput:
  """A config key that names another finished run this one reads.

  Attributes:
    role: "builds_on" (a later stage reads its features / experts) or "teacher".
    key: the dotted config key holding that run's workdir.
    stage: the `config.stage` for which the key is read (None: every stage).
  """

  role: str
  key: str
  stage: str | None = None


@dataclasses.dataclass(frozen=True)
class Attachment:
  """What a method attaches to the training classes (`TrainingHooks.attach`).

  Attributes:
    prior_counts: (C,) counts of the loss's prior over every trained class.
    epoch_pool: epoch -> indices of that epoch's training pool, or None (every image).
    objective_inputs: named arrays the objective reads (`losses.ObjectiveContext.inputs`).
  """

  prior_counts: np.ndarray
  epoch_pool: Callable[[int], np.ndarray] | None = None
  objective_inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class StepInput:
  """Something the train step computes per batch for the objective (e.g. a teacher's logits).

  Attributes:
    name: a key of the step's input variables (unique over the records).
    variables: the arrays it reads, placed on the devices; passed to the jitted step as an
      argument (not closed over), so they are not baked into the compiled program.
    compute: (variables, normalised images) -> {name: array} handed to the objective as
      keyword arguments.
  """

  name: str
  variables: Any
  compute: Callable[[Any, Any], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class TrainingHooks:
  """How a method acts during a training run (every field optional; each gets the config).

  Attributes:
    check: (config) -> None, cheap checks before any data loads (a teacher run exists).
    held_out_classes: (config) -> class names the dataset builder takes out of the label
      space before the long-tail profile is drawn, keeping their images for `add_data`
      (`DatasetSplits.held_out`).
    add_data: (splits, config) -> splits: extra trained classes or images (auxiliary data).
    attach: (splits, config) -> Attachment | None: the loss prior, the per-epoch pool and the
      objective's extra inputs for these splits (None: not active for this config).
    step_inputs: (setup) -> StepInput | None, built once the run's setup exists.
    wrap_objective: (objective, config, num_experts) -> objective: adds a term that reads the
      step inputs (e.g. distillation).
  """

  check: Callable[[Any], None] | None = None
  held_out_classes: Callable[[Any], tuple[str, ...]] | None = None
  add_data: Callable[[Any, Any], Any] | None = None
  attach: Callable[[Any, Any], Attachment | None] | None = None
  step_inputs: Callable[[Any], StepInput | None] | None = None
  wrap_objective: Callable[[Callable, Any, int], Callable] | None = None


@dataclasses.dataclass(frozen=True)
class MethodRecord:
  """Everything one method room contributes.

  Attributes:
    name: the room's name (unique).
    sections: the config sections it owns (`Section`).
    loss_settings: frozen dataclasses whose fields (with their defaults) are the keys this
      method adds to `config.loss` (each objective reads its own spec from them).
    objectives: `loss.name` -> `losses.Objective`.
    stages: `config.stage` -> () -> run(config, workdir) (loaded on use, after JAX starts).
    stage2_methods: `decoupled.method` -> `ltjax.decoupled.method.Method`.
    hooks: its training-time hooks.
    non_result_keys: its keys that cannot change a run's numbers (paths, logging).
    run_inputs: its keys that name another finished run (`RunInput`), for tools that chain
      runs (`ltjax.reproduce`).
  """

  name: str
  sections: tuple[Section, ...] = ()
  loss_settings: tuple[type, ...] = ()
  objectives: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  stages: Mapping[str, Callable[[], Callable]] = dataclasses.field(default_factory=dict)
  stage2_methods: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  hooks: TrainingHooks = TrainingHooks()
  non_result_keys: tuple[str, ...] = ()
  run_inputs: tuple[RunInput, ...] = ()


_RECORDS: dict[str, MethodRecord] = {}


def register(record: MethodRecord) -> MethodRecord:
  """Adds a room's record (registering the same record twice is a no-op)."""
  if not isinstance(record, MethodRecord):
    raise TypeError(f"register() takes a plugins.MethodRecord, got {type(record).__name__}")
  old = _RECORDS.get(record.name)
  if old is not None and old is not record:
    raise ValueError(f"a method room named {record.name!r} is already registered; give the "
                     "new record another name or unregister the old one first")
  _check_unique(record)
  _RECORDS[record.name] = record
  return record


def unregister(name: str) -> None:
  """Removes a record (tests and notebooks that register a method for a while)."""
  _RECORDS.pop(name, None)


def records() -> tuple[MethodRecord, ...]:
  """The registered records, in registration order."""
  return tuple(_RECORDS.values())


def _check_unique(record: MethodRecord) -> None:
  """No two records may own the same section, stage, objective, stage-2 entry or loss key."""
  def owned(r):
    return {
        "config section": {s.name for s in r.sections},
        "stage": set(r.stages), "loss": set(r.objectives),
        "decoupled method": set(r.stage2_methods),
        "loss setting": {f.name for cls in r.loss_settings for f in dataclasses.fields(cls)},
    }
  mine = owned(record)
  for other in _RECORDS.values():
    if other.name == record.name:
      continue
    for what, names in owned(other).items():
      clash = sorted(names & mine[what])
      if clash:
        raise ValueError(f"method room {record.name!r} declares the {what} {clash}, which "
                         f"room {other.name!r} already owns")


def sections() -> tuple[Section, ...]:
  return tuple(s for r in records() for s in r.sections)


def run_input_key(role: str, stage: str) -> str | None:
  """The dotted key through which a config of `stage` reads a run in `role`, or None."""
  keys = [i.key for r in records() for i in r.run_inputs
          if i.role == role and i.stage in (None, stage)]
  return keys[0] if keys else None


def hooks(field: str) -> list[Callable]:
  """The registered rooms' `TrainingHooks.<field>` functions, in registration order."""
  return [getattr(r.hooks, field) for r in records() if getattr(r.hooks, field) is not None]


class Collected(collections.abc.MutableMapping):
  """A registry dict (`losses.OBJECTIVES`, `decoupled.stage.METHODS`, ...) that also holds
  every registered record's entries of one field.

  Entries set directly (`OBJECTIVES["brier"] = ...`, a test's monkeypatch) live beside the
  records' and win over them; deleting one removes only a directly set entry.
  """

  def __init__(self, field: str, builtins: Mapping[str, Any] | None = None):
    self._field = field
    self._own: dict[str, Any] = dict(builtins or {})

  def _merged(self) -> dict[str, Any]:
    merged = dict(self._own)
    for r in records():
      for key, value in getattr(r, self._field).items():
        merged.setdefault(key, value)
    return merged

  def __getitem__(self, key):
    return self._merged()[key]

  def __setitem__(self, key, value):
    self._own[key] = value

  def __delitem__(self, key):
    del self._own[key]

  def __iter__(self) -> Iterator[str]:
    return iter(self._merged())

  def __len__(self) -> int:
    return len(self._merged())

  def __repr__(self) -> str:
    return f"Collected({self._field!r}, {sorted(self._merged())})"
