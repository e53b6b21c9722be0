"""DLSA test fixtures: hand-made flows whose filtering is known by construction."""

import numpy as np
import pytest

from ltjax.dlsa import flow_training


class FakeFlows:
  """Stage d scores a sample by its feature column d (NaN in `nan_stages`); cluster = label of
  the nearest centre (so priors are informative)."""

  def __init__(self, nan_stages=()):
    self.nan_stages = nan_stages

  def train_flow(self, features, labels, num_classes, fc, *, seed, stage, mesh=None):
    return flow_training.TrainedFlow(flow=stage, variables={}, means=None, history=[],
                                     chosen_epoch=0, skipped_steps=0, rollbacks=0)

  def make_flow_eval(self, flow, means, chunk):
    def run(variables, features):
      score = features[:, flow].astype(np.float64)
      if flow in self.nan_stages:
        score = np.full(len(features), np.nan)
      return score, (features[:, 0] < 0.5).astype(np.int32), features
    return run


@pytest.fixture
def fake_flows(monkeypatch):
  fakes = FakeFlows()
  monkeypatch.setattr(flow_training, "train_flow", fakes.train_flow)
  monkeypatch.setattr(flow_training, "make_flow_eval", fakes.make_flow_eval)
  return fakes
