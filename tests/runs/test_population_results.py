"""population.json: per-setting mean ± std (ddof=1) by hand, selection on validation only,
diverged members and empty buckets."""

import pytest

from ltjax.runs import population_results


def _results(val_top1, test_top1, few=0.5):
  split = lambda top1: {"top1": top1, "many": 0.9, "medium": 0.6, "few": few, "ece": 0.1}
  return {"selected_step": 10, "val": split(val_top1), "test": split(test_top1)}


def _summary():
  rows = [
      population_results.member_row("a-seed0", 0, {"loss.la_tau": 0.5}, _results(0.60, 0.90)),
      population_results.member_row("a-seed1", 1, {"loss.la_tau": 0.5}, _results(0.64, 0.80)),
      population_results.member_row("b-seed0", 0, {"loss.la_tau": 1.0}, _results(0.70, 0.50)),
      population_results.member_row("b-seed1", 1, {"loss.la_tau": 1.0}, _results(0.72, 0.52,
                                                                                  few=None)),
      population_results.member_row("b-seed2", 2, {"loss.la_tau": 1.0}, None,
                                    {"step": 3, "what": "nan loss", "learning_rate": 0.1}),
  ]
  return population_results.summarize(rows)


def test_mean_and_sample_std_per_setting():
  s = _summary()
  a, b = s["settings"]
  assert a["setting"] == {"loss.la_tau": 0.5} and a["seeds"] == [0, 1]
  assert a["test"]["top1"]["mean"] == pytest.approx(0.85)
  # ddof=1: sqrt(((0.9 - 0.85)^2 + (0.8 - 0.85)^2) / 1) = 0.0707...
  assert a["test"]["top1"]["std"] == pytest.approx(0.07071068, abs=1e-7)
  assert b["seeds"] == [0, 1] and b["diverged"] == ["b-seed2"]
  assert b["val"]["top1"]["mean"] == pytest.approx(0.71)
  assert b["test"]["few"] is None  # one seed's empty bucket: no made-up figure
  assert s["std_ddof"] == 1


def test_best_setting_is_chosen_on_validation_not_test():
  rows = _summary()["members"][:4]  # without the diverged member
  s = population_results.summarize(rows)
  # test prefers tau 0.5 (0.85 vs 0.51); validation prefers tau 1.0 (0.71 vs 0.62)
  assert s["best_setting"] == {"loss.la_tau": 1.0}
  table = population_results.format_table(s)
  assert "* loss.la_tau=1.0" in table and "ddof=1" in table


def test_the_table_counts_diverged_members():
  table = population_results.format_table(_summary())
  assert "(1 diverged)" in table


def test_without_validation_nothing_is_selected():
  row = population_results.member_row("m", 0, {}, {"selected_step": 1,
                                                   "test": _results(0, 0.5)["test"]})
  s = population_results.summarize([row])
  assert s["best_setting"] is None and "no validation split" in s["selection"]
  assert s["settings"][0]["test"]["top1"] == {"mean": 0.5, "std": None}


def test_a_setting_that_lost_a_seed_never_wins():
  """b has the higher mean validation top-1 over its surviving seeds, but one seed diverged."""
  rows = [
      population_results.member_row("a-seed0", 0, {"loss.la_tau": 0.5}, _results(0.60, 0.9)),
      population_results.member_row("a-seed1", 1, {"loss.la_tau": 0.5}, _results(0.62, 0.9)),
      population_results.member_row("b-seed0", 0, {"loss.la_tau": 1.0}, _results(0.90, 0.5)),
      population_results.member_row("b-seed1", 1, {"loss.la_tau": 1.0}, None,
                                    {"step": 3, "what": "nan loss", "learning_rate": 0.1}),
  ]
  s = population_results.summarize(rows)
  assert s["best_setting"] == {"loss.la_tau": 0.5}
  assert "none of whose seeds diverged" in s["selection"]
  only_unstable = population_results.summarize(rows[2:])
  assert only_unstable["best_setting"] is None
  assert only_unstable["selection"] == "none: every setting lost a seed to divergence"
