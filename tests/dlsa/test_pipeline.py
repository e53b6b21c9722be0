"""The progressive pipeline: routing, thresholds and assembly on hand-built stages; a real run."""

import math

import numpy as np
import pytest

from ltjax.dlsa import flow_training
from ltjax.dlsa import pipeline
from tests.dlsa import hand_cases


def _split(n, seed, counts=None):
  rng = np.random.RandomState(seed)
  labels = (np.repeat(np.arange(3), counts) if counts is not None else rng.randint(0, 3, n))
  centers = np.array([[2.0, 0.0, 0.0], [-1.0, 1.7, 0.0], [-1.0, -1.7, 0.0]])
  feats = centers[labels] + 0.5 * rng.randn(len(labels), 3)
  return {"features": feats.astype(np.float32), "labels": labels}


def _config(**kw):
  flow = flow_training.FlowConfig(num_clusters=2)
  return pipeline.DLSAConfig(flow=flow, head_epochs=4, head_eval_every=2,
                             head_learning_rate=0.1, **kw)


def test_two_stage_routing_and_assembly(fake_flows):
  del fake_flows
  train, val, test = _split(0, 0, (120, 40, 10)), _split(90, 1), _split(120, 2)
  out = pipeline.run_pipeline(train, val, test, 3, _config(max_depth=2), seed=0)
  s1, s2 = out["stages"]
  # Stage 1 keeps the top 30 % of train by column 0, with alpha = the 70th percentile.
  col0 = train["features"][:, 0]
  assert s1["threshold"] == np.sort(col0)[int(np.floor(170 * 0.7))]
  np.testing.assert_array_equal(out["route"]["train"] == 0, col0 >= s1["threshold"])
  np.testing.assert_array_equal(out["route"]["test"] == 0, test["features"][:, 0] >= s1["threshold"])
  # Stage 2 thresholds column 1 among the samples stage 1 passed on.
  rest = col0 < s1["threshold"]
  alpha2 = np.sort(train["features"][rest, 1])[int(np.floor(rest.sum() * 0.7))]
  assert s2["threshold"] == alpha2
  np.testing.assert_array_equal(out["route"]["train"] == 1, rest & (train["features"][:, 1] >= alpha2))
  for k in ("train", "test"):
    feats = {"train": train, "test": test}[k]["features"]
    regular = (feats[:, 0] < s1["threshold"]) & (feats[:, 1] < alpha2)
    np.testing.assert_array_equal(out["route"][k] == 2, regular)
  assert s1["filtered"]["train"] == 170 - int(np.floor(170 * 0.7))
  assert s1["filtered_fraction"]["test"] == pytest.approx((out["route"]["test"] == 0).mean())
  # Each stage's reported accuracy is that of the assembled logits on its samples.
  for d, report in enumerate([s1, s2, out["regular"]]):
    idx = out["route"]["test"] == d
    acc = (out["logits"]["test"][idx].argmax(-1) == test["labels"][idx]).mean()
    assert report["test_accuracy"] == pytest.approx(acc)


def test_bucket_make_up_indexes_the_class_masks_by_label():
  counts = np.array(hand_cases.MAKE_UP_TRAIN_COUNTS)  # many, medium, few, few
  labels = np.repeat(np.arange(4), (6, 12, 15, 15))
  # 6/48, 12/48, 30/48 (np.isin against the boolean masks gave 0.375 for "few").
  assert pipeline._bucket_make_up(labels, counts) == {"many": 0.125, "medium": 0.25,
                                                      "few": 0.625}
  assert pipeline._bucket_make_up(labels[:0], counts) == {"many": None, "medium": None,
                                                          "few": None}


def test_filtered_make_up_of_a_hand_built_stage(fake_flows):
  del fake_flows
  train, val, test = (hand_cases.make_up_split(k, seed=i)
                      for i, k in enumerate(("train", "val", "test")))
  out = pipeline.run_pipeline(train, val, test, 4, _config(max_depth=1), seed=0)
  (stage,) = out["stages"]
  assert stage["filtered"] == {"train": 48, "val": 4, "test": 8}
  for k, shares in hand_cases.MAKE_UP_SHARES.items():
    assert stage["filtered_make_up"][k] == pytest.approx(shares), k


def test_a_stage_that_keeps_nothing_falls_back_without_crashing(fake_flows):
  fake_flows.nan_stages = (0,)
  train, val, test = _split(0, 0, (120, 40, 10)), _split(90, 1), _split(120, 2)
  out = pipeline.run_pipeline(train, val, test, 3, _config(max_depth=2), seed=0)
  assert out["stages"][0]["filtered"]["train"] == 0
  # Stage 2 keeps the samples at or above index floor(N (1 - 0.3)) of the 170 stage 1 left
  # (`likelihood_threshold`; 170 * 0.7 is 118.99999999999999 in floating point).
  assert out["stages"][1]["filtered"]["train"] == 170 - math.floor(170 * (1 - 0.3)) == 52
  assert np.isfinite(out["logits"]["test"]).all()


def test_too_few_samples_end_the_recursion(fake_flows):
  del fake_flows
  train, val, test = _split(0, 0, (12, 6, 2)), _split(30, 1), _split(30, 2)
  out = pipeline.run_pipeline(train, val, test, 3, _config(max_depth=3, min_stage_samples=15),
                              seed=0)
  assert len(out["stages"]) == 1  # 20 -> 14 remaining < 15
  assert (out["route"]["test"] != 1).all()


def test_options_are_validated():
  with pytest.raises(ValueError, match="cac_input"):
    pipeline.DLSAConfig(cac_input="z")
  with pytest.raises(ValueError, match="max_depth"):
    pipeline.DLSAConfig(max_depth=0)


@pytest.mark.parametrize("kind,cac_input", [("maf", "x"), ("coupling", "u")])
def test_real_flows_end_to_end(kind, cac_input):
  train, val, test = _split(0, 0, (150, 50, 12)), _split(60, 1), _split(90, 2)
  flow = flow_training.FlowConfig(kind=kind, num_clusters=6, batch_size=64, num_epochs=2,
                                  learning_rate=0.02, max_cluster_fraction=1.0)
  dc = pipeline.DLSAConfig(flow=flow, max_depth=2, cac_input=cac_input, head_epochs=4,
                           head_eval_every=2, head_learning_rate=0.1)
  out = pipeline.run_pipeline(train, val, test, 3, dc, seed=0,
                              base_logits={"test": np.zeros((90, 3), np.float32)})
  assert len(out["stages"]) == 2
  assert np.bincount(out["route"]["train"], minlength=3).tolist() == [64, 45, 103]
  assert out["logits"]["test"].shape == (90, 3) and np.isfinite(out["logits"]["test"]).all()
  assert out["selected_on"] == "val"
  # The stage-1 logits are all zero, so "predict class 0": the base accuracy of stage 1 is the
  # class-0 share of the test samples it routed to its own head.
  routed = out["route"]["test"] == 0
  assert out["stages"][0]["test_base_accuracy"] == pytest.approx(
      float(np.mean(test["labels"][routed] == 0)))
