"""The lr schedules of the recipes and PyTorch-equivalent SGD."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ltjax import config as config_lib
from ltjax import optim


def test_ldam_multistep_schedule_with_per_epoch_warmup():
  oc = config_lib.default_config().optimizer  # lr 0.1, warm-up 5 epochs, x0.01@160, x1e-4@180
  lr = optim.learning_rate_schedule(oc, steps_per_epoch=10, num_epochs=200)
  expect = {0: 0.02, 9: 0.02, 10: 0.04, 45: 0.1, 50: 0.1, 1599: 0.1, 1600: 1e-3, 1799: 1e-3,
            1800: 1e-5, 1999: 1e-5}
  for step, value in expect.items():
    assert float(lr(step)) == pytest.approx(value, rel=1e-5), step


def test_cosine_schedule_with_per_step_warmup():
  oc = config_lib.default_config().optimizer
  oc.schedule, oc.warmup_per_epoch, oc.warmup_epochs = "cosine", False, 1
  lr = optim.learning_rate_schedule(oc, steps_per_epoch=10, num_epochs=11)
  assert float(lr(0)) == pytest.approx(0.01)
  assert float(lr(10)) == pytest.approx(0.1)
  assert float(lr(60)) == pytest.approx(0.05)
  assert float(lr(110)) == pytest.approx(0.0, abs=1e-7)


def test_sgd_matches_torch_semantics_by_hand():
  # torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01): g' = g + wd*w; buf = 0.9*buf + g'.
  oc = config_lib.default_config().optimizer
  oc.weight_decay = 0.01
  tx = optim.build_optimizer(oc, lambda step: 0.1)
  w = jnp.array([1.0])
  state = tx.init(w)
  buf, w_ref = 0.0, 1.0
  for g in (0.5, -0.2, 0.3):
    updates, state = tx.update(jnp.array([g]), state, w)
    w = optax.apply_updates(w, updates)
    buf = 0.9 * buf + (g + 0.01 * w_ref)
    w_ref -= 0.1 * buf
    np.testing.assert_allclose(w, [w_ref], rtol=1e-6)
