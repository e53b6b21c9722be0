"""Flow training: pair sampling statistics, NLL weights, the loss terms, the non-finite policy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ltjax.dlsa import flow_training
from ltjax.dlsa import mixture
from ltjax.models import flows


def _blobs(counts=(300, 60, 12), dim=4, seed=0):
  rng = np.random.RandomState(seed)
  labels = np.repeat(np.arange(len(counts)), counts)
  centers = 3.0 * rng.randn(len(counts), dim)
  return (centers[labels] + 0.5 * rng.randn(len(labels), dim)).astype(np.float32), labels


def test_class_weights_by_hand():
  labels = np.array([0] * 4 + [1] * 2 + [3] * 1)  # class 2 absent
  w = flow_training.class_weights(labels, 4, q=2.0)
  raw = np.array([1.0, 4.0, 0.0, 16.0])
  np.testing.assert_allclose(w, raw / raw.sum(), rtol=1e-6)
  scaled = flow_training.class_weights(labels, 4, q=2.0, class_scaling=True)
  np.testing.assert_allclose(scaled, w * 4 / 1000, rtol=1e-6)


def test_pairs_are_class_balanced_and_of_distinct_classes():
  _, labels = _blobs()
  anchors, negatives = flow_training.sample_pairs(labels, 40, 100, seed=0, stage=0, epoch=0)
  assert anchors.shape == negatives.shape == (40, 100)
  a, b = labels[anchors.ravel()], labels[negatives.ravel()]
  assert np.all(a != b)
  freq = np.bincount(a, minlength=3) / a.size
  np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.02)  # classes drawn uniformly
  again, _ = flow_training.sample_pairs(labels, 40, 100, seed=0, stage=0, epoch=0)
  np.testing.assert_array_equal(anchors, again)
  other, _ = flow_training.sample_pairs(labels, 40, 100, seed=0, stage=0, epoch=1)
  assert not np.array_equal(anchors, other)


def test_single_class_subset_still_samples():
  anchors, negatives = flow_training.sample_pairs(np.zeros(5, np.int64), 2, 4, 0, 0, 0)
  assert anchors.shape == (2, 4) and negatives.max() < 5


def _state_and_step(fc, dim=3, num_clusters=4):
  flow = flows.build_flow(fc.kind, dim, num_blocks=1)
  means = mixture.random_means(jax.random.key(1), num_clusters, dim, 1.0)
  variables = flow.init(jax.random.key(0), jnp.zeros((2, dim)))
  tx = optax.inject_hyperparams(optax.sgd)(learning_rate=fc.learning_rate)
  state = flow_training.FlowState(
      step=jnp.zeros((), jnp.int32), params=variables["params"],
      batch_stats=variables["batch_stats"], opt_state=tx.init(variables["params"]),
      balance_ema=jnp.zeros((num_clusters,)), skipped=jnp.zeros((), jnp.int32))
  return flow, means, state, jax.jit(flow_training.make_flow_step(flow, means, tx, fc))


def test_step_loss_terms_by_hand():
  fc = flow_training.FlowConfig(kind="coupling", lambda_lh=2.0, lambda_pur=0.5, lambda_bal=3.0)
  # The metrics describe the loss at the parameters the step starts from, so the learning rate
  # does not matter here (and 0 is not a valid one).
  flow, means, state, step = _state_and_step(fc)
  rng = np.random.RandomState(0)
  batch = {"anchor": rng.randn(8, 3).astype(np.float32),
           "negative": rng.randn(8, 3).astype(np.float32),
           "weight": rng.rand(8).astype(np.float32)}
  _, m = step(state, batch)
  # Recompute with the train-mode forward (batch statistics) by hand.
  v = {"params": state.params, "batch_stats": state.batch_stats}
  (u_a, ld_a), upd = flow.apply(v, batch["anchor"], train=True, mutable=["batch_stats"])
  (u_n, _), _ = flow.apply({"params": state.params, **upd}, batch["negative"], train=True,
                           mutable=["batch_stats"])
  log_px = np.asarray(mixture.log_likelihood(u_a, ld_a, means))
  nll = -np.mean(batch["weight"] * log_px)
  q_a = np.asarray(mixture.cluster_posterior(u_a, means))
  q_n = np.asarray(mixture.cluster_posterior(u_n, means))
  purity = np.mean(np.sum(q_a * np.log(q_n), -1))
  ema = 0.3 * (q_a.mean(0) + 1e-7)
  p_hat = ema / (1 - 0.7)
  balance = np.sum(p_hat * np.log(p_hat)) + np.log(4)
  np.testing.assert_allclose(m["nll"], nll, rtol=1e-4)
  np.testing.assert_allclose(m["purity"], purity, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(m["balance"], balance, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(m["loss"], 2 * nll + 0.5 * purity + 3 * balance, rtol=1e-4)
  assert purity <= 0  # a negative cross-entropy: minimised, it pushes negatives away


def test_non_finite_loss_skips_the_update_and_counts_it():
  fc = flow_training.FlowConfig(kind="maf", learning_rate=0.1)
  _, _, state, step = _state_and_step(fc)
  good = {"anchor": np.random.RandomState(0).randn(8, 3).astype(np.float32),
          "negative": np.random.RandomState(1).randn(8, 3).astype(np.float32),
          "weight": np.ones(8, np.float32)}
  bad = dict(good, anchor=np.full((8, 3), np.nan, np.float32))
  before = jax.device_get(state.params)
  state, m = step(state, bad)
  assert not bool(m["finite"]) and int(state.skipped) == 1 and int(state.step) == 1
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params), before)
  state, m = step(state, good)
  assert bool(m["finite"]) and int(state.skipped) == 1
  changed = jax.tree.map(lambda a, b: not np.array_equal(a, b), jax.device_get(state.params),
                         before)
  assert any(jax.tree.leaves(changed))


def test_train_flow_rolls_back_and_halves_the_lr_on_divergence():
  feats, labels = _blobs(dim=3)
  fc = flow_training.FlowConfig(kind="maf", num_blocks=1, num_clusters=6, batch_size=64,
                                num_epochs=3, learning_rate=1e6, max_cluster_fraction=1.0)
  trained = flow_training.train_flow(feats, labels, 3, fc, seed=0, stage=0)
  assert trained.rollbacks >= 1 and trained.skipped_steps >= 1
  lrs = [h["learning_rate"] for h in trained.history]
  assert lrs[-1] < lrs[0]
  # The kept flow is finite (the initial one if nothing better was found).
  evaluate = flow_training.make_flow_eval(trained.flow, trained.means, 128)
  log_px, _, _ = evaluate(trained.variables, feats)
  assert np.all(np.isfinite(log_px))


def test_train_flow_learns_the_blobs():
  feats, labels = _blobs(dim=3)
  fc = flow_training.FlowConfig(kind="coupling", num_blocks=2, num_clusters=6, batch_size=64,
                                num_epochs=6, learning_rate=0.02, max_cluster_fraction=1.0)
  trained = flow_training.train_flow(feats, labels, 3, fc, seed=0, stage=0)
  losses = [h["nll"] for h in trained.history]
  assert losses[-1] < losses[0]
  assert trained.rollbacks == 0 and 0 <= trained.chosen_epoch < 6


@pytest.mark.parametrize("last_batch, steps", [("keep", 3), ("drop", 2)])
def test_an_epoch_keeps_or_drops_the_partial_batch(last_batch, steps):
  feats, labels = _blobs(dim=3)
  feats, labels = feats[::4], labels[::4]  # 93 samples: batches of 45, 45 and 3
  n = len(labels)
  fc = flow_training.FlowConfig(kind="maf", num_blocks=1, num_clusters=4, batch_size=n // 2 - 1,
                                num_epochs=2, learning_rate=0.01, max_cluster_fraction=1.0,
                                last_batch=last_batch)
  assert n % fc.batch_size >= 2  # a partial batch exists
  trained = flow_training.train_flow(feats, labels, 3, fc, seed=0, stage=0)
  assert [h["steps"] for h in trained.history] == [steps, steps]
  assert trained.skipped_steps == 0  # the partial batch's BN statistics are finite


def test_partial_batch_pairs_are_their_own_stream():
  labels = np.repeat(np.arange(3), [20, 10, 5])
  full, _ = flow_training.sample_pairs(labels, 2, 8, seed=1, stage=0, epoch=3)
  same, _ = flow_training.sample_pairs(labels, 2, 8, seed=1, stage=0, epoch=3, stream=0)
  part, _ = flow_training.sample_pairs(labels, 1, 8, seed=1, stage=0, epoch=3, stream=1)
  np.testing.assert_array_equal(full, same)  # drawing a partial batch leaves these alone
  assert not np.array_equal(full[0], part[0])


def test_last_batch_is_checked():
  with pytest.raises(ValueError, match="last_batch"):
    flow_training.FlowConfig(last_batch="partial")
