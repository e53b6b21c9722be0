"""metrics.jsonl is strict JSON: a non-finite value is written as null and named."""

import json

from ltjax.core import metric_log


def _strict(line):
  def refuse(constant):
    raise ValueError(f"non-standard JSON constant {constant}")
  return json.loads(line, parse_constant=refuse)


def test_non_finite_values_are_null_and_named(tmp_path):
  log = metric_log.MetricLog(str(tmp_path))
  log.write(1, {"train/loss": float("nan"), "train/accuracy": 0.5, "val/few": None})
  log.write(2, {"train/loss": float("inf"), "train/accuracy": 0.25})
  log.close()
  rows = [_strict(line) for line in open(tmp_path / "metrics.jsonl")]
  assert rows[0] == {"step": 1, "train/loss": None, "train/accuracy": 0.5, "val/few": None,
                     "nonfinite": ["train/loss"]}
  assert rows[1] == {"step": 2, "train/loss": None, "train/accuracy": 0.25,
                     "nonfinite": ["train/loss"]}
