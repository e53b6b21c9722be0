"""RIDE backbones: shapes, one copy of the shared stages, E copies of the expert stages."""

import jax
import jax.numpy as jnp
import numpy as np

from ltjax import models
from ltjax.models import ride


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def test_outputs_and_mean_of_experts():
  m = ride.ride_cifar_tiny(10, num_experts=3)
  x = jnp.asarray(np.random.RandomState(0).randn(2, 32, 32, 3), jnp.float32)
  v = m.init(jax.random.key(0), x)
  logits, f = m.apply(v, x)
  assert logits.shape == (2, 10)
  assert f["expert_logits"].shape == (3, 2, 10) and f["expert_pooled"].shape == (3, 2, 8)
  assert f["pooled"].shape == (2, 24)
  np.testing.assert_allclose(logits, f["expert_logits"].mean(0), rtol=1e-6)
  # Cosine logits times s = 30.
  assert float(jnp.max(jnp.abs(f["expert_logits"]))) <= 30.0 + 1e-4
  # Experts are initialised independently, so they disagree.
  assert not np.allclose(f["expert_logits"][0], f["expert_logits"][1])


def test_shared_stages_have_one_copy_and_experts_a_stacked_axis():
  v = jax.eval_shape(lambda: ride.ride_cifar_resnet32(100, num_experts=3).init(
      jax.random.key(0), jnp.zeros((1, 32, 32, 3))))["params"]
  assert v["conv1"]["kernel"].shape == (3, 3, 3, 16)  # shared: no expert axis
  assert v["layer1_0"]["conv1"]["kernel"].shape == (3, 3, 16, 16)
  assert v["experts"]["layer2_0"]["conv1"]["kernel"].shape == (3, 3, 3, 16, 24)
  assert v["experts"]["layer3_0"]["conv1"]["kernel"].shape == (3, 3, 3, 24, 48)
  assert v["experts"]["head"]["kernel"].shape == (3, 48, 100)
  shared = _count({k: x for k, x in v.items() if k != "experts"})
  per_expert = _count(v["experts"]) // 3
  # ride.md: RIDE-2 / -3 / -4 (reduced) have 0.53 / 0.78 / 1.04 M parameters.
  for experts, millions in ((2, 0.53), (3, 0.78), (4, 1.04)):
    assert round((shared + experts * per_expert) / 1e6, 2) == millions


def test_imagenet_variants_match_ride_md_parameter_counts():
  for fn, millions in ((ride.ride_resnext50, 42.9), (ride.ride_resnet50, 43.7)):
    v = jax.eval_shape(lambda fn=fn: fn(1000).init(jax.random.key(0),
                                                    jnp.zeros((1, 224, 224, 3))))
    assert round(_count(v["params"]) / 1e6, 1) == millions


def test_batch_stats_per_expert_and_registry():
  m = models.build_model("ride_resnet_tiny", 5, num_experts=2)
  x = jnp.ones((2, 32, 32, 3))
  v = m.init(jax.random.key(0), x)
  assert v["batch_stats"]["experts"]["layer3_0"]["bn1"]["mean"].shape[0] == 2
  (_, f), new = m.apply(v, x, train=True, mutable=["batch_stats"])
  assert f["expert_logits"].shape == (2, 2, 5)
  assert not np.allclose(new["batch_stats"]["bn1"]["mean"], v["batch_stats"]["bn1"]["mean"])
