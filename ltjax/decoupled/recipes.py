"""Decoupled stage-2 recipes: turn a config into a stage-2 run over a finished stage 1."""

from __future__ import annotations

import ml_collections


def decoupled_stage(c: ml_collections.ConfigDict, method: str,
                    stage1_workdir: str) -> ml_collections.ConfigDict:
  """Turns a config into a decoupled stage-2 run of `method` over `stage1_workdir`."""
  c.stage = "decoupled"
  c.decoupled.method = method
  c.decoupled.stage1_workdir = stage1_workdir
  if method == "lws":
    c.decoupled.num_epochs = 5  # the reference's LWS schedule
  return c
