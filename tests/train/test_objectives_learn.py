"""Every registered objective trains: through the trainer's own wiring (`train.setup`), 60 steps
on digits-LT bring the loss down.

A smoke run (6 steps, warm-up, a decay and the DRW switch at epoch 1) is too short and too
scheduled for that: its loss is not monotone, so the learning check lives here, with a
constant learning rate.
"""

import jax
import numpy as np
import pytest

from ltjax import losses
from ltjax import train
from ltjax.core import sharding
from tests.conftest import load_config

_STEPS = 60
# loss.name -> config changes it needs on digits-LT.
_SETTINGS = {
    "ldam": {"model.normed_classifier": True},
    "ride": {"model.name": "ride_cifar_tiny"},
}


def _losses(name):
  c = load_config("configs/digits_lt/ce.py", None)
  c.loss.name = name
  for key, value in _SETTINGS.get(name, {}).items():
    section, field = key.split(".")
    c[section][field] = value
  c.optimizer.schedule, c.optimizer.warmup_epochs = "constant", 0
  c.train.data_on_device = "on"
  mesh = sharding.make_data_mesh()
  setup = train.setup.build(c, train.setup.build_splits(c), mesh)
  state = train.setup.initial_state(setup)
  jitted = train.setup.jit_steps(setup, train.setup.step_fn(setup, train.setup.objective(setup)))
  out = []
  for step in range(_STEPS):
    epoch, batch = setup.sampler.position(step)
    idx = sharding.global_batch(mesh, {"i": setup.sampler.local_indices(epoch, batch).astype(
        np.int32)})["i"]
    state, metrics = jitted.one(state, jitted.data, idx, setup.train_rng, None)
    out.append(float(jax.device_get(metrics["loss"])))
  return np.asarray(out)


@pytest.mark.parametrize("name", sorted(losses.OBJECTIVES))
def test_the_loss_goes_down(name):
  values = _losses(name)
  assert np.all(np.isfinite(values))
  first, last = values[:10].mean(), values[-10:].mean()
  assert last < 0.8 * first, (name, first, last)
