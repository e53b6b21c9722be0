"""Every config key has a rule, and every key refuses every kind of bad value in one sentence.

The invalid values are generated from each key's declared rule (`ltjax.core.rules`), so a key
added later is covered without a new test: a wrong type, None, NaN and infinities, a number
past each bound, a float where an integer belongs, an unknown choice, a bad item, too few items,
a decreasing schedule.
"""

from __future__ import annotations

import math

import ml_collections
import pytest

import ltjax.methods  # noqa: F401  (registers the rooms' sections)
from ltjax import config as config_lib
from ltjax.config import defaults
from ltjax.config import keys as config_keys
from ltjax.core import rules
from ltjax.dlsa import flow_training
from ltjax.dlsa import pipeline


def _leaves(node: ml_collections.ConfigDict, prefix: str = "") -> set[str]:
  out = set()
  for name, value in node.items():
    if isinstance(value, ml_collections.ConfigDict):
      out |= _leaves(value, f"{prefix}{name}.")
    else:
      out.add(f"{prefix}{name}")
  return out


def invalid_values(rule, default) -> list:
  """Values `rule` must refuse, each paired with nothing but itself."""
  if isinstance(rule, rules.Optional):
    return [v for v in invalid_values(rule.rule, default) if v is not None]
  if isinstance(rule, rules.Number):
    bad = [None, "1", math.nan, math.inf, -math.inf]
    if rule.integer:  # (a float key stores True as 1.0: ml_collections converts it)
      bad.append(True)
    if rule.lo is not None:
      bad.append(rule.lo if rule.lo_open else rule.lo - 1)
    if rule.hi is not None:
      bad.append(rule.hi if rule.hi_open else rule.hi + 1)
    if rule.integer:
      # A float inside the bounds: only its kind is wrong.
      inside = rule.lo + 1 if rule.lo is not None else 0
      bad.append(inside + 0.5 if rule.hi is None or inside + 0.5 < rule.hi else float(inside))
    return bad
  if isinstance(rule, rules.Choice):
    return ["no-such-choice", True, None, 3.5]
  if isinstance(rule, rules.Flag):
    return [1, 0, "True", None]
  if isinstance(rule, rules.Text):
    return [3, None, ("a",)] + (["", "   "] if rule.nonempty else [])
  if isinstance(rule, rules.Items):
    bad = ["1,2", 5, None]
    items = list(default)
    if items:
      bad.append(tuple([invalid_values(rule.item, items[0])[0]] + items[1:]))
    if rule.min_len > 0:
      bad.append(tuple(items[:rule.min_len - 1]))
    if rule.increasing and len(set(items)) > 1:
      bad.append(tuple(sorted(items, reverse=True)))
    return bad
  raise AssertionError(f"no invalid values known for rule {rule!r}: extend this test")


def _cases() -> list[tuple[str, object]]:
  config = config_lib.default_config()
  out = []
  for key, rule in defaults.key_rules().items():
    for value in invalid_values(rule, config_keys.get_key(config, key)):
      out.append((key, value))
  return out


CASES = _cases()


def test_every_key_has_a_rule_and_every_rule_a_key():
  config = config_lib.default_config()
  assert _leaves(config) == set(defaults.key_rules())


def test_defaults_follow_their_rules():
  config = config_lib.default_config()
  for key, rule in defaults.key_rules().items():
    rule.check(config_keys.get_key(config, key), key)
  config_lib.validate(config)


def test_every_key_is_covered_by_several_invalid_values():
  covered = {}
  for key, _ in CASES:
    covered[key] = covered.get(key, 0) + 1
  assert set(covered) == set(defaults.key_rules())
  assert min(covered.values()) >= 3


def _set(config: ml_collections.ConfigDict, key: str, value) -> None:
  *path, leaf = key.split(".")
  node = config
  for part in path:
    node = node[part]
  with node.ignore_type():
    node[leaf] = value


@pytest.mark.parametrize("key,value", CASES, ids=[f"{k}={v!r}" for k, v in CASES])
def test_invalid_value_is_refused_in_one_sentence_naming_the_key(key, value):
  config = config_lib.default_config()
  _set(config, key, value)
  with pytest.raises(ValueError) as info:
    config_lib.validate(config)
  message = str(info.value)
  assert f"config.{key}" in message
  assert "\n" not in message and len(message) < 400


def test_number_rule_bounds():
  unit_open = rules.Number(lo=0, hi=1, hi_open=True)
  assert unit_open.accepts(0) and unit_open.accepts(0.999)
  assert not unit_open.accepts(1) and not unit_open.accepts(-1e-9)
  count = rules.COUNT
  assert count.accepts(1) and not count.accepts(0) and not count.accepts(2.0)
  assert not count.accepts(True)
  with pytest.raises(ValueError, match=r"^config\.train\.batch_size must be an integer >= 1, "
                     r"got 0$"):
    count.check(0, "train.batch_size")
  with pytest.raises(ValueError, match=r"in \[0, 1\)"):
    unit_open.check(1.0, "optimizer.momentum")


def test_items_rule():
  schedule = rules.Items(rules.NON_NEGATIVE, increasing=True)
  schedule.check((1, 1, 5), "optimizer.decay_epochs")  # equal epochs do not decrease
  with pytest.raises(ValueError, match=r"decay_epochs must not decrease, got \(5, 1\)"):
    schedule.check((5, 1), "optimizer.decay_epochs")
  with pytest.raises(ValueError, match=r"decay_epochs\[1\] must be a finite number >= 0"):
    schedule.check((1, -2), "optimizer.decay_epochs")
  with pytest.raises(ValueError, match="needs at least 1 item"):
    rules.Items(rules.POSITIVE, min_len=1).check((), "calibrate.temperatures")


def test_choice_reads_a_registry_when_checked():
  names = ["a"]
  rule = rules.Choice(lambda: names)
  with pytest.raises(ValueError, match=r"config\.model\.name='b' is not valid; choose one of"):
    rule.check("b", "model.name")
  names.append("b")  # registered later: accepted
  rule.check("b", "model.name")


def test_a_key_without_a_rule_is_refused_when_declared():
  with pytest.raises(TypeError, match=r"'sec\.x' is declared as 3: declare it as "
                     r"ltjax\.core\.rules\.Key"):
    rules.defaults({"sec": {"x": 3}})


def test_library_dataclasses_check_their_fields_with_the_config_sentence():
  with pytest.raises(ValueError, match=r"^config\.dlsa\.head_epochs must be an integer >= 1, "
                     r"got 0$"):
    pipeline.DLSAConfig(head_epochs=0)
  with pytest.raises(ValueError, match=r"config\.dlsa\.cac_input='z' is not valid"):
    pipeline.DLSAConfig(cac_input="z")
  with pytest.raises(ValueError, match=r"^config\.dlsa\.flow\.\w+ must be"):
    flow_training.FlowConfig(**{_first_count_field(flow_training.FlowConfig): 0})


def _first_count_field(cls) -> str:
  import dataclasses
  for f in dataclasses.fields(cls):
    if f.metadata.get("rule") == rules.COUNT:
      return f.name
  raise AssertionError(f"{cls.__name__} has no COUNT field")
