"""The lr schedules of the recipes and PyTorch-equivalent SGD."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ltjax import config as config_lib
from ltjax.core import optim


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


def _vit_params():
  import jax  # pylint: disable=g-import-not-at-top

  from ltjax import models  # pylint: disable=g-import-not-at-top
  model = models.build_model("vit_tiny", 5)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                           train=False))["params"]


def test_layer_ids_and_decay_scales_follow_beit_for_the_vit():
  params = _vit_params()
  ids, num_layers = optim.layer_ids(params)
  depth = sum(1 for k in params if k.startswith("block"))
  assert num_layers == depth + 2
  assert ids["pos_embed"] == ids["cls_token"] == 0
  assert ids["patch_embed"]["kernel"] == 0
  assert ids["block0"]["norm1"]["scale"] == 1
  assert ids[f"block{depth - 1}"]["mlp_fc2"]["kernel"] == depth
  assert ids["head"]["kernel"] == ids["norm"]["scale"] == depth + 1
  scales = optim.layer_decay_scales(params, 0.5)
  assert scales["head"]["bias"] == 1.0
  assert scales["block0"]["attn"]["query"]["kernel"] == pytest.approx(0.5 ** depth)
  assert scales["pos_embed"] == pytest.approx(0.5 ** (depth + 1))


def test_weight_decay_mask_spares_biases_norms_and_embeddings():
  mask = optim.weight_decay_mask(_vit_params())
  assert mask["head"]["kernel"] and mask["block0"]["mlp_fc1"]["kernel"]
  assert mask["patch_embed"]["kernel"] is False  # an embedding (MAE's no-decay list)
  assert not mask["head"]["bias"] and not mask["block0"]["norm1"]["scale"]
  assert not mask["pos_embed"] and not mask["cls_token"]


def _torch_adamw_step(w, m, v, g, lr, t, decay):
  """One torch.optim.AdamW step (betas 0.9 / 0.99, eps 1e-8) of a parameter at its step t."""
  w = w - lr * decay * w
  m = 0.9 * m + 0.1 * g
  v = 0.99 * v + 0.01 * g ** 2
  mhat, vhat = m / (1 - 0.9 ** t), v / (1 - 0.99 ** t)
  return w - lr * mhat / (np.sqrt(vhat) + 1e-8), m, v


def test_adamw_with_layer_decay_matches_torch_adamw_with_per_group_lr():
  # torch.optim.AdamW(lr, betas=(0.9, 0.99), eps=1e-8, wd): w -= lr*wd*w, then the Adam step
  # with bias correction; a layer's group has lr * scale.
  oc = config_lib.default_config().optimizer
  oc.name, oc.b1, oc.b2, oc.weight_decay, oc.layer_decay = "adamw", 0.9, 0.99, 0.05, 0.5
  params = {"block0": {"w": jnp.array([[1.0, -2.0]])}, "head": {"w": jnp.array([[0.5, 0.25]]),
                                                                "b": jnp.array([0.3])}}
  tx = optim.build_optimizer(oc, lambda step: 0.1, params)
  state = tx.init(params)
  grads = [{"block0": {"w": jnp.array([[0.2, -0.1]])}, "head": {"w": jnp.array([[0.4, 0.1]]),
                                                                "b": jnp.array([-0.3])}}] * 2
  ref = {k: {n: np.array(v) for n, v in d.items()} for k, d in params.items()}
  m = {k: {n: 0 * v for n, v in d.items()} for k, d in ref.items()}
  vv = {k: {n: 0 * v for n, v in d.items()} for k, d in ref.items()}
  scale = {"block0": 0.5, "head": 1.0}  # L = 1 block: block0 -> 0.5 ** 1, head -> 1
  for t, g in enumerate(grads, start=1):
    updates, state = tx.update(g, state, params)
    params = optax.apply_updates(params, updates)
    for k in ref:
      for n in ref[k]:
        lr = 0.1 * scale[k]
        decay = 0.05 if ref[k][n].ndim > 1 else 0.0
        ref[k][n], m[k][n], vv[k][n] = _torch_adamw_step(
            ref[k][n], m[k][n], vv[k][n], np.array(g[k][n]), lr, t, decay)
  for k in ref:
    for n in ref[k]:
      np.testing.assert_allclose(params[k][n], ref[k][n], rtol=1e-5, err_msg=f"{k}/{n}")


def test_head_first_freezes_the_body_then_starts_its_adamw_afresh():
  # The official clswarm: body `requires_grad=False` for the first C epochs (no update, no
  # decay, no Adam state: torch's per-parameter step count starts when it first trains),
  # the lr read at the global step. By hand, torch AdamW semantics per parameter.
  oc = config_lib.default_config().optimizer
  oc.name, oc.b1, oc.b2, oc.weight_decay, oc.layer_decay = "adamw", 0.9, 0.99, 0.05, 0.5
  oc.head_warmup_epochs = 2
  params = {"block0": {"w": jnp.array([[1.0, -2.0]])}, "head": {"w": jnp.array([[0.5, 0.25]]),
                                                                "b": jnp.array([0.3])}}
  schedule = lambda step: 0.1 * (step + 1)  # noqa: E731  (any step-dependent lr)
  tx = optim.build_optimizer(oc, schedule, params, steps_per_epoch=1)
  state = tx.init(params)
  rng = np.random.RandomState(0)
  ref = {k: {n: np.array(v) for n, v in d.items()} for k, d in params.items()}
  m = {k: {n: 0 * v for n, v in d.items()} for k, d in ref.items()}
  vv = {k: {n: 0 * v for n, v in d.items()} for k, d in ref.items()}
  count = {"block0": 0, "head": 0}
  scale = {"block0": 0.5, "head": 1.0}
  for step in range(5):
    g = {k: {n: jnp.asarray(rng.randn(*v.shape), jnp.float32) for n, v in d.items()}
         for k, d in ref.items()}
    updates, state = tx.update(g, state, params)
    params = optax.apply_updates(params, updates)
    for k in ref:
      if k == "block0" and step < 2:
        continue  # frozen: the weights, moments and step count stay as they are
      count[k] += 1
      t = count[k]
      for n in ref[k]:
        lr = schedule(step) * scale[k]
        decay = 0.05 if ref[k][n].ndim > 1 else 0.0
        ref[k][n], m[k][n], vv[k][n] = _torch_adamw_step(
            ref[k][n], m[k][n], vv[k][n], np.array(g[k][n]), lr, t, decay)
    if step < 2:
      np.testing.assert_array_equal(params["block0"]["w"], [[1.0, -2.0]])
    for k in ref:
      for n in ref[k]:
        np.testing.assert_allclose(params[k][n], ref[k][n], rtol=1e-5, atol=1e-6,
                                   err_msg=f"step {step}: {k}/{n}")


def test_head_warmup_schedule_follows_the_official_lr_sched_by_hand():
  # clswarm C = 3 of warm-up W = 5, clswarm_scale s = 60, base 1, 2 steps per epoch, per-step
  # progress (step + 1) / 10: epochs < 3 at 60 * progress, then the warm-up restarts from 0
  # at epoch 3: (progress - 0.6) / 0.4; the cosine from epoch 5 down to min_lr.
  oc = config_lib.default_config().optimizer
  oc.learning_rate, oc.schedule, oc.warmup_per_epoch = 1.0, "cosine", False
  oc.warmup_epochs, oc.head_warmup_epochs, oc.head_warmup_lr_scale = 5, 3, 60.0
  oc.min_lr = 0.01
  lr = optim.learning_rate_schedule(oc, steps_per_epoch=2, num_epochs=15)
  expect = {0: 6.0, 5: 36.0, 6: 0.25, 7: 0.5, 9: 1.0, 10: 1.0, 20: 0.505, 30: 0.01}
  for step, value in expect.items():
    assert float(lr(step)) == pytest.approx(value, rel=1e-5), step
  oc.head_warmup_epochs = 6
  with pytest.raises(ValueError, match="head_warmup_epochs=6 must be at most"):
    optim.learning_rate_schedule(oc, steps_per_epoch=2, num_epochs=15)


def test_head_first_needs_a_head():
  oc = config_lib.default_config().optimizer
  oc.name, oc.head_warmup_epochs = "adamw", 1
  with pytest.raises(ValueError, match="needs a module named one of"):
    optim.build_optimizer(oc, lambda s: 0.1, {"block0": {"w": jnp.ones((2, 2))}},
                          steps_per_epoch=1)
