"""ltjax <-> PyTorch weights: the official models' state_dict names and layouts, and back
exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax import models
from ltjax.models import flows
from ltjax.models import torch_weights


def test_a_convolution_kernel_is_transposed_to_out_in_kh_kw():
  kernel = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # (kh, kw, in, out)
  entry = torch_weights.Entry("conv.weight", "params", ("conv", "kernel"), layout="conv")
  state = torch_weights.to_torch_layout({"params": {"conv": {"kernel": kernel}}}, [entry])
  assert state["conv.weight"].shape == (5, 4, 2, 3)
  assert state["conv.weight"][4, 3, 1, 2] == kernel[1, 2, 3, 4]


@pytest.mark.parametrize("name,method,expect", [
    ("ride_cifar_tiny", "ride", {"conv1.weight": (4, 3, 3, 3), "bn1.running_var": (4,),
                                 "layer1.0.conv2.weight": (4, 4, 3, 3),
                                 "layer2s.2.0.conv1.weight": (6, 4, 3, 3),
                                 "layer3s.1.0.bn2.bias": (8,), "linears.0.weight": (8, 5)}),
    ("cifar_resnet_tiny", "ldam_drw", {"conv1.weight": (4, 3, 3, 3),
                                       "layer2.0.conv1.weight": (8, 4, 3, 3),
                                       "layer3.0.bn1.running_mean": (16,),
                                       "linear.weight": (16, 5)}),
])
def test_image_mapping_names_and_inverts(name, method, expect):
  """ltjax's variables in the reference's state_dict names and layouts, and back exactly."""
  kwargs = {"normed_classifier": True} if method == "ldam_drw" else {}
  model = models.build_model(name, 5, **kwargs)
  variables = jax.device_get(model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                        train=False))
  entries = torch_weights.image_entries(variables)
  state = torch_weights.to_torch_layout(variables, entries)
  for key, shape in expect.items():
    assert state[key].shape == shape, key
  assert len(state) == len(entries)
  leaves = sum(int(np.prod(np.shape(x))) for x in jax.tree.leaves(variables))
  assert sum(v.size for v in state.values()) == leaves
  back = torch_weights.from_torch_layout(state, entries, variables)
  for x, y in zip(jax.tree.leaves(back), jax.tree.leaves(variables)):
    np.testing.assert_array_equal(x, y)


def test_flow_mapping_inverts():
  flow = flows.build_flow("maf", 6, num_blocks=2)
  variables = jax.device_get(flow.init(jax.random.key(0), jnp.zeros((2, 6))))
  entries = torch_weights.flow_entries(2)
  state = torch_weights.to_torch_layout(variables, entries)
  assert state["nf.net.0.net_input.weight"].shape == (6, 6)  # (out, in)
  assert state["nf.net.2.net.3.weight"].shape == (12, 6)
  assert state["nf.net.3.running_var"].shape == (6,)
  back = torch_weights.from_torch_layout(state, entries, variables)
  for x, y in zip(jax.tree.leaves(back), jax.tree.leaves(variables)):
    np.testing.assert_array_equal(x, y)
