"""Adding a method touches one place: a loss and a decoupled method registered from this file
train and run end to end through the real entry points (the README's worked example)."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from ltjax import config as config_lib
from ltjax import losses
from ltjax import train
from ltjax.decoupled import stage
from ltjax.decoupled.method import Method
from ltjax.runs import feature_cache
from tests.conftest import load_config


def _squared_error_objective(spec: losses.LossSpec, ctx: losses.ObjectiveContext):
  """A toy loss: mean squared error between softmax and the one-hot label (Brier score)."""
  del spec

  def base(logits, features, labels, epoch, targets=None):
    del features, epoch, targets
    probs = jnp.exp(logits - jnp.max(logits, -1, keepdims=True))
    probs = probs / jnp.sum(probs, -1, keepdims=True)
    one_hot = jnp.eye(logits.shape[-1])[labels]
    return jnp.mean(jnp.sum((probs - one_hot) ** 2, -1))

  del ctx
  return base


def _fit_prior_corrected(config, train_split, val, head):
  """A toy decoupled method: the cached logits minus log of the class prior (tau fixed at 1)."""
  del config, val, head
  log_prior = jnp.log(jnp.asarray(train_split["class_counts"], jnp.float32) + 1.0)
  return lambda d: jnp.asarray(d["logits"]) - log_prior[None, :], {"toy": True}


@pytest.fixture
def registered(monkeypatch):
  monkeypatch.setitem(losses.OBJECTIVES, "brier", losses.Objective(_squared_error_objective))
  monkeypatch.setitem(stage.METHODS, "prior_corrected", Method(_fit_prior_corrected))


def test_a_registered_loss_and_decoupled_method_run_end_to_end(registered, tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  c.loss.name = "brier"
  config_lib.validate(c)  # the registries, not a list in the config code, define the names
  stage1 = train.train_and_evaluate(c, str(tmp_path / "stage1"))
  assert stage1["config"]["loss"]["name"] == "brier"
  with open(tmp_path / "stage1" / "metrics.jsonl") as f:
    first_loss = next(row["train/loss"] for row in map(json.loads, f) if "train/loss" in row)
  # A Brier score lies in [0, 2]; cross-entropy at init on 10 classes is about 2.3.
  assert 0.0 <= first_loss <= 2.0

  d = load_config("configs/digits_lt/crt.py")
  d.decoupled.method = "prior_corrected"
  d.decoupled.stage1_workdir = str(tmp_path / "stage1")
  out = stage.run(d, str(tmp_path / "stage2"))
  assert out["method"] == "prior_corrected" and out["toy"] is True
  # The method's logits are the cached ones minus log(n_c + 1): check its test top-1 directly.
  test = feature_cache.load_split(str(tmp_path / "stage1"), "test")
  logits = test["logits"] - np.log(test["class_counts"] + 1.0)[None, :]
  assert out["test"]["top1"] == pytest.approx(np.mean(logits.argmax(-1) == test["labels"]))


def test_an_unregistered_name_is_refused_with_the_registered_ones(tmp_path):
  c = load_config("configs/digits_lt/ce.py")
  c.loss.name = "brier"
  with pytest.raises(ValueError, match=r"loss\.name='brier' is not valid; choose one of "
                     r"\['balanced_softmax', 'ce'"):
    config_lib.validate(c)
