"""A population's members: `config.population.seeds` x `config.population.sweep` as configs.

  --config.population.seeds=0,1,2 --config.population.sweep='loss.la_tau=0.5,1.0;loss.name=ce,focal'

Each member is a complete single-run config (its seed and swept values set, its `population`
section back at the defaults), so everything a member writes reads like a single run. Members
share the loop, the data and the teacher, so the keys that define those must be equal; any
other key may differ as long as the train state keeps its shapes (checked when the population
is built, `population.check_same_state`).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import ml_collections

from ltjax import config as config_lib
from ltjax.config import keys as config_keys
from ltjax.config import validation
from ltjax.core import plugins

# What every member shares: the training loop (epochs, batch, evaluation cadence, selection),
# the data, the stage, and the sections a method room marks shared (`plugins.Section.shared`:
# e.g. auxiliary classes, a teacher). Sweeping these is refused.
FRAMEWORK_SHARED_PREFIXES = ("train.", "dataset.", "debug.", "stage", "population.")
EXECUTIONS = validation.EXECUTIONS


def shared_prefixes() -> tuple[str, ...]:
  """The key prefixes every member must agree on."""
  return FRAMEWORK_SHARED_PREFIXES + tuple(f"{s.name}." for s in plugins.sections() if s.shared)


@dataclasses.dataclass(frozen=True)
class Member:
  """One member of a population.

  Attributes:
    name: its folder under `<workdir>/members/` (e.g. "la_tau=0.5-seed0").
    seed: its training seed.
    setting: {swept key: value} (empty when only seeds vary).
    config: its complete single-run config.
  """

  name: str
  seed: int
  setting: dict[str, Any]
  config: ml_collections.ConfigDict


def is_population(config: ml_collections.ConfigDict) -> bool:
  """Whether the config asks for population training (any seeds or any sweep)."""
  return bool(tuple(config.population.seeds)) or bool(config.population.sweep.strip())


def _parse_value(text: str, kind, key: str):
  text = text.strip()
  try:
    if kind is bool:
      if text.lower() not in ("true", "false"):
        raise ValueError(text)
      return text.lower() == "true"
    if kind in (int, float, str):
      return kind(text)
  except ValueError:
    raise ValueError(f"population.sweep: {text!r} is not a {kind.__name__} value for "
                     f"{key}") from None
  raise ValueError(f"population.sweep over {key} ({kind.__name__}) is not supported: sweep "
                   "numbers, booleans or names (tuples change with their length)")


def parse_sweep(config: ml_collections.ConfigDict) -> list[tuple[str, list[Any]]]:
  """[(dotted key, values)] of `population.sweep` ('key=v1,v2;key2=w1,w2'), typed like the
  keys' defaults."""
  text = config.population.sweep.strip()
  if not text:
    return []
  axes = []
  for part in text.split(";"):
    if "=" not in part:
      raise ValueError(f"population.sweep={text!r}: write 'key=v1,v2' (several keys separated "
                       "by ';'), e.g. --config.population.sweep='loss.la_tau=0.5,1.0,1.5'")
    key, values = (s.strip() for s in part.split("=", 1))
    if key == "seed":
      raise ValueError("sweep seeds with --config.population.seeds=0,1,2, not population.sweep")
    shared = shared_prefixes()
    if any(key == p or key.startswith(p) for p in shared):
      listed = ", ".join(p + "*" if p.endswith(".") else p for p in shared)
      raise ValueError(
          f"population.sweep over {key}: every member shares the training loop, the data and "
          f"what a method attaches to them ({listed}); sweep the seed, the optimizer, "
          "the loss, the sampler, the augmentation or model settings that keep the shapes, or "
          "launch separate runs")
    kind = type(config_keys.get_key(config, key, "population.sweep names"))
    parsed = [_parse_value(v, kind, key) for v in values.split(",") if v.strip()]
    if not parsed:
      raise ValueError(f"population.sweep: no values given for {key}")
    if len(set(parsed)) != len(parsed):
      raise ValueError(f"population.sweep: {key} lists a value twice ({values})")
    axes.append((key, parsed))
  if len({k for k, _ in axes}) != len(axes):
    raise ValueError(f"population.sweep={text!r} names a key twice")
  return axes


def _short(key: str) -> str:
  return key.split(".")[-1]


def member_name(seed: int, setting: dict[str, Any]) -> str:
  """The member's folder name: swept values then the seed, e.g. "la_tau=0.5-seed0"."""
  parts = [f"{_short(k)}={v}" for k, v in setting.items()] + [f"seed{seed}"]
  return "-".join(parts).replace("/", "_")


def expand(config: ml_collections.ConfigDict) -> list[Member]:
  """The population's members, settings-major (every seed of the first setting first)."""
  seeds = [int(s) for s in tuple(config.population.seeds)] or [int(config.seed)]
  if len(set(seeds)) != len(seeds):
    raise ValueError(f"population.seeds={tuple(config.population.seeds)} lists a seed twice")
  axes = parse_sweep(config)
  defaults = config_lib.default_config().population
  members = []
  for values in itertools.product(*(v for _, v in axes)):
    setting = dict(zip((k for k, _ in axes), values))
    for seed in seeds:
      member = ml_collections.ConfigDict(config.to_dict())
      member.seed = seed
      for key, value in setting.items():
        config_keys.set_value(member, key, value)
      member.population = ml_collections.ConfigDict(defaults.to_dict())
      member.lock()
      members.append(Member(name=member_name(seed, setting), seed=seed, setting=setting,
                            config=member))
  if len({m.name for m in members}) != len(members):
    raise ValueError("two population members would share a folder name; sweep distinct values")
  return members


def check_shared(members: list[Member]) -> None:
  """Members built from any configs (not only a sweep) must agree on everything they share."""
  for m in members[1:]:
    shared = [k for k in differing_keys(members[0].config, m.config)
              if any(k == p or k.startswith(p) for p in shared_prefixes())]
    if shared:
      raise ValueError(f"population members {members[0].name} and {m.name} differ in "
                       f"{', '.join(shared)}, which every member shares (the loop, the data and "
                       "what a method attaches to them); train them as separate runs")


def differing_keys(a: ml_collections.ConfigDict, b: ml_collections.ConfigDict) -> list[str]:
  """The result-affecting keys whose values differ between two member configs."""
  fa, fb = config_lib.result_fingerprint(a), config_lib.result_fingerprint(b)
  return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def vmap_groups(members: list[Member]) -> list[list[int]]:
  """Member indices grouped by everything but the seed: a group runs one step function, so it
  can be vmapped; different groups are separate functions in the same program."""
  groups: list[list[int]] = []
  for i, m in enumerate(members):
    for g in groups:
      if differing_keys(members[g[0]].config, m.config) in ([], ["seed"]):
        g.append(i)
        break
    else:
      groups.append([i])
  return groups
