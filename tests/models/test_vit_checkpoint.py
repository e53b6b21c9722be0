"""Loading pretrained ViTs: big_vision round trip, timm layout checked against torch, position
grid resizing, LayerScale / norm_pre variants and the errors."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax.models import vit
from ltjax.models import vit_checkpoint

BASE = dict(num_classes=5, patch_size=4, width=32, depth=2, num_heads=2, mlp_dim=64)


def _params(seed, size=16, **kw):
  model = vit.ViT(**{**BASE, **kw})
  params = model.init(jax.random.key(seed), jnp.zeros((1, size, size, 3)))["params"]
  # A random head, so loading (or not) the head is visible.
  params = flax.core.unfreeze(params)
  params["head"]["kernel"] = jax.random.normal(jax.random.key(seed + 100),
                                               params["head"]["kernel"].shape)
  return model, params


def _flat(tree):
  return {"/".join(k): np.asarray(v) for k, v in flax.traverse_util.flatten_dict(tree).items()}


def _assert_same(a, b, skip_head=False):
  fa, fb = _flat(a), _flat(b)
  assert fa.keys() == fb.keys()
  for k in fa:
    if not (skip_head and k.startswith("head/")):
      np.testing.assert_allclose(fa[k], fb[k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_big_vision_round_trip_and_head_policy(tmp_path):
  model, source = _params(0)
  _, fresh = _params(1)
  path = str(tmp_path / "vit.npz")
  vit_checkpoint.save_big_vision_npz(path, source)
  with np.load(path) as f:
    assert "Transformer/encoderblock_1/MultiHeadDotProductAttention_1/query/kernel" in f.files
  loaded = vit_checkpoint.load_pretrained(path, fresh, keep_head=True)
  _assert_same(loaded, source)
  x = jnp.asarray(np.random.RandomState(0).rand(2, 16, 16, 3), jnp.float32)
  np.testing.assert_allclose(model.apply({"params": loaded}, x)[0],
                             model.apply({"params": source}, x)[0], rtol=1e-5, atol=1e-6)
  no_head = vit_checkpoint.load_pretrained(path, fresh)
  _assert_same(no_head, source, skip_head=True)
  np.testing.assert_array_equal(no_head["head"]["kernel"], fresh["head"]["kernel"])


def _to_timm(params):
  """A timm state dict from ltjax params, written out longhand (torch shapes)."""
  p = _flat(params)
  d = {"cls_token": p["cls_token"], "pos_embed": p["pos_embed"],
       "patch_embed.proj.weight": p["patch_embed/kernel"].transpose(3, 2, 0, 1),
       "patch_embed.proj.bias": p["patch_embed/bias"], "norm.weight": p["norm/scale"],
       "norm.bias": p["norm/bias"], "head.weight": p["head/kernel"].T,
       "head.bias": p["head/bias"], "mask_token": np.zeros((1, 32), np.float32)}
  for i in range(BASE["depth"]):
    b = f"block{i}/"
    qkv_w = [p[b + f"attn/{n}/kernel"].reshape(32, 32).T for n in ("query", "key", "value")]
    qkv_b = [p[b + f"attn/{n}/bias"].reshape(32) for n in ("query", "key", "value")]
    d.update({
        f"blocks.{i}.norm1.weight": p[b + "norm1/scale"], f"blocks.{i}.norm1.bias":
            p[b + "norm1/bias"],
        f"blocks.{i}.norm2.weight": p[b + "norm2/scale"], f"blocks.{i}.norm2.bias":
            p[b + "norm2/bias"],
        f"blocks.{i}.attn.qkv.weight": np.concatenate(qkv_w, 0),
        f"blocks.{i}.attn.qkv.bias": np.concatenate(qkv_b, 0),
        f"blocks.{i}.attn.proj.weight": p[b + "attn/out/kernel"].reshape(32, 32).T,
        f"blocks.{i}.attn.proj.bias": p[b + "attn/out/bias"],
        f"blocks.{i}.mlp.fc1.weight": p[b + "mlp_fc1/kernel"].T,
        f"blocks.{i}.mlp.fc1.bias": p[b + "mlp_fc1/bias"],
        f"blocks.{i}.mlp.fc2.weight": p[b + "mlp_fc2/kernel"].T,
        f"blocks.{i}.mlp.fc2.bias": p[b + "mlp_fc2/bias"]})
    if b + "ls1" in p:
      d[f"blocks.{i}.ls1.gamma"], d[f"blocks.{i}.ls2.gamma"] = p[b + "ls1"], p[b + "ls2"]
  if "norm_pre/scale" in p:
    d["norm_pre.weight"], d["norm_pre.bias"] = p["norm_pre/scale"], p["norm_pre/bias"]
  return d


@pytest.mark.parametrize("variant", [{}, {"layer_scale": 0.1}, {"pre_norm": True,
                                                                 "act": "quick_gelu"}])
def test_timm_layout_loads_every_weight(tmp_path, variant):
  _, source = _params(0, **variant)
  _, fresh = _params(1, **variant)
  path = str(tmp_path / "timm.npz")
  np.savez(path, **_to_timm(source))
  _assert_same(vit_checkpoint.load_pretrained(path, fresh, keep_head=True), source)


def test_timm_weights_compute_what_torch_would(tmp_path):
  """The loaded Flax weights reproduce torch's formulas applied to the torch-layout arrays:
  Conv2d with an OIHW weight over non-overlapping patches, Linear y = x W^T + b."""
  _, source = _params(0)
  _, fresh = _params(1)
  state = _to_timm(source)
  path = str(tmp_path / "timm.npz")
  np.savez(path, **state)
  loaded = vit_checkpoint.load_pretrained(path, fresh)
  x = np.random.RandomState(0).rand(2, 16, 16, 3).astype(np.float32)
  # torch: out[n, o, i, j] = b[o] + sum_{c, y, x} W[o, c, y, x] * in[n, c, 4i + y, 4j + x].
  patches = x.reshape(2, 4, 4, 4, 4, 3)  # (n, i, y, j, x, c)
  want = np.einsum("niyjxc,ocyx->nijo", patches, state["patch_embed.proj.weight"])
  want = want + state["patch_embed.proj.bias"]
  got = jax.lax.conv_general_dilated(x, loaded["patch_embed"]["kernel"], (4, 4), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
  got = got + loaded["patch_embed"]["bias"][None, None, None, :]
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
  # Fused qkv: torch's linear then split into q, k, v, vs the per-head Flax projections.
  tokens = np.random.RandomState(1).rand(3, 32).astype(np.float32)
  qkv = tokens @ state["blocks.0.attn.qkv.weight"].T + state["blocks.0.attn.qkv.bias"]
  for j, name in enumerate(("query", "key", "value")):
    a = loaded["block0"]["attn"][name]
    mine = np.einsum("nd,dhk->nhk", tokens, a["kernel"]) + a["bias"][None]
    np.testing.assert_allclose(mine.reshape(3, 32), qkv[:, 32 * j:32 * (j + 1)], rtol=1e-5,
                               atol=1e-6)
  heads = np.random.RandomState(2).rand(3, 2, 16).astype(np.float32)
  out = heads.reshape(3, 32) @ state["blocks.0.attn.proj.weight"].T + \
      state["blocks.0.attn.proj.bias"]
  o = loaded["block0"]["attn"]["out"]
  np.testing.assert_allclose(np.einsum("nhk,hkd->nd", heads, o["kernel"]) + o["bias"], out,
                             rtol=1e-5, atol=1e-6)
  fc1 = tokens @ state["blocks.0.mlp.fc1.weight"].T + state["blocks.0.mlp.fc1.bias"]
  m = loaded["block0"]["mlp_fc1"]
  np.testing.assert_allclose(tokens @ m["kernel"] + m["bias"], fc1, rtol=1e-5, atol=1e-6)


def test_position_grid_is_resized_and_cls_kept(tmp_path):
  _, small = _params(0, size=32)  # 8 x 8 grid
  _, big = _params(1, size=48)  # 12 x 12 grid
  path = str(tmp_path / "vit.npz")
  vit_checkpoint.save_big_vision_npz(path, small)
  loaded = vit_checkpoint.load_pretrained(path, big)
  pos = np.asarray(loaded["pos_embed"])
  assert pos.shape == (1, 145, 32)
  np.testing.assert_array_equal(pos[:, 0], np.asarray(small["pos_embed"])[:, 0])
  # A smooth grid stays smooth: the mean over positions is preserved by bilinear resizing.
  np.testing.assert_allclose(pos[0, 1:].mean(0), np.asarray(small["pos_embed"])[0, 1:].mean(0),
                             atol=0.02)


def test_errors_name_the_key(tmp_path):
  _, source = _params(0)
  _, fresh = _params(1)
  path = str(tmp_path / "timm.npz")
  d = _to_timm(source)
  del d["blocks.1.mlp.fc2.bias"]
  np.savez(path, **d)
  with pytest.raises(ValueError, match="block1/mlp_fc2/bias"):
    vit_checkpoint.load_pretrained(path, fresh)
  _, wide = _params(1, width=48, mlp_dim=96)
  np.savez(path, **_to_timm(source))
  with pytest.raises(ValueError, match="shape"):
    vit_checkpoint.load_pretrained(path, wide)
  np.savez(path, foo=np.zeros(3), bar=np.ones(2))
  with pytest.raises(ValueError, match="layout"):
    vit_checkpoint.load_pretrained(path, fresh)
  with pytest.raises(ValueError, match="unknown checkpoint layout"):
    vit_checkpoint.load_pretrained(path, fresh, layout="keras")


def test_mae_global_pool_model_keeps_its_fresh_fc_norm(tmp_path):
  """An MAE / LiVT encoder into `pool="mean_fc_norm"`: every block weight loads, the encoder's
  final norm is left out (MAE deletes it) and fc_norm stays freshly initialised, as the head."""
  _, source = _params(0)
  path = str(tmp_path / "mae.npz")
  np.savez(path, **_to_timm(source))
  model = vit.ViT(**BASE, pool="mean_fc_norm")
  fresh = model.init(jax.random.key(1), jnp.zeros((1, 16, 16, 3)))["params"]
  fresh["fc_norm"]["scale"] = fresh["fc_norm"]["scale"] + 0.25
  loaded = vit_checkpoint.load_pretrained(path, fresh)
  assert "norm" not in loaded
  np.testing.assert_allclose(loaded["fc_norm"]["scale"], fresh["fc_norm"]["scale"])
  for key in ("block0", "block1", "patch_embed"):
    for a, b in zip(jax.tree.leaves(loaded[key]), jax.tree.leaves(source[key])):
      np.testing.assert_allclose(a, b, rtol=1e-6)
