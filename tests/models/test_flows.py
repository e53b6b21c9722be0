"""Flows: exact inverses, log-dets against brute-force Jacobians, MADE masks, flow batch-norm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax.models import flows


def _x(b, d, seed=0, scale=1.0, shift=0.0):
  return jnp.asarray(np.random.RandomState(seed).randn(b, d) * scale + shift, jnp.float32)


def _perturb(tree, seed, scale=0.1):
  """Adds N(0, scale^2) noise to every leaf (a zero-initialised coupling is the identity)."""
  leaves, treedef = jax.tree.flatten(tree)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(treedef, [x + scale * jax.random.normal(k, x.shape, x.dtype)
                                      for x, k in zip(leaves, keys)])


def _trained_variables(flow, dim, seed=0, steps=3):
  """Perturbed params and batch_stats moved by a few train-mode passes."""
  v = flow.init(jax.random.key(seed), _x(8, dim))
  v = {"params": _perturb(v["params"], seed + 1), "batch_stats": v["batch_stats"]}
  train = jax.jit(lambda v, x: flow.apply(v, x, train=True, mutable=["batch_stats"])[1])
  for i in range(steps):
    upd = train(v, _x(16, dim, seed=10 + i, scale=1.5, shift=0.5))
    v = {"params": v["params"], "batch_stats": upd["batch_stats"]}
  return v


def _jacobian_logdets(flow, v, x):
  """log|det du/dx| per example by brute force: jacfwd of the one-example forward + slogdet."""
  one = lambda xi: flow.apply(v, xi[None, :])[0][0]
  jac = jax.jit(jax.vmap(jax.jacfwd(one)))(x)
  return np.asarray(jnp.linalg.slogdet(jac)[1]), np.asarray(jac)


def test_shapes_dtypes_and_default_hidden():
  x = _x(4, 3)
  for kind, first_kernel in (("maf", "dense_in"), ("coupling", "dense1")):
    flow = flows.build_flow(kind, 3)
    v = flow.init(jax.random.key(0), x)
    u, logdet = flow.apply(v, x)
    assert u.shape == (4, 3) and u.dtype == jnp.float32
    assert logdet.shape == (4,) and logdet.dtype == jnp.float32
    assert set(v["params"]) == {"blocks_0", "blocks_1", "norms_0", "norms_1"}
    assert v["params"]["blocks_0"][first_kernel]["kernel"].shape == (3, 3)  # hidden = dim
    assert v["params"]["blocks_1"]["dense_out"]["kernel"].shape == (3, 6)
    np.testing.assert_array_equal(v["batch_stats"]["norms_0"]["mean"], np.zeros(3))
    np.testing.assert_array_equal(v["batch_stats"]["norms_0"]["var"], np.ones(3))
    np.testing.assert_array_equal(v["params"]["norms_1"]["log_gamma"], np.zeros(3))
    (u_t, logdet_t), upd = flow.apply(v, x, train=True, mutable=["batch_stats"])
    assert u_t.shape == (4, 3) and logdet_t.shape == (4,)
    assert set(upd) == {"batch_stats"}
    xr, logdet_inv = flow.apply(v, u, method="inverse")
    assert xr.shape == (4, 3) and logdet_inv.shape == (4,)
    v7 = flows.build_flow(kind, 3, num_blocks=3, hidden=7).init(jax.random.key(0), x)
    assert v7["params"]["blocks_2"][first_kernel]["kernel"].shape == (3, 7)
  # The fresh coupling flow is the identity up to its (init-state) batch-norms.
  v = flows.build_flow("coupling", 3).init(jax.random.key(0), x)
  u, logdet = flows.build_flow("coupling", 3).apply(v, x)
  np.testing.assert_allclose(u, x / np.sqrt(1 + 1e-5) ** 2, rtol=1e-6)


def test_unknown_kind_raises():
  with pytest.raises(ValueError, match="maf, coupling"):
    flows.build_flow("glow", 3)
  with pytest.raises(ValueError):
    flows.build_flow("maf", 0)


@pytest.mark.parametrize("kind", ["maf", "coupling"])
@pytest.mark.parametrize("dim", [3, 5])
def test_inverse_recovers_input_and_negates_logdet(kind, dim):
  flow = flows.build_flow(kind, dim)
  v = _trained_variables(flow, dim)
  init_stats = flow.init(jax.random.key(0), _x(2, dim))["batch_stats"]
  assert not np.allclose(v["batch_stats"]["norms_1"]["mean"], init_stats["norms_1"]["mean"])
  assert not np.allclose(v["batch_stats"]["norms_0"]["var"], init_stats["norms_0"]["var"])
  x = _x(6, dim, seed=3, scale=1.5, shift=0.5)
  u, logdet = jax.jit(flow.apply)(v, x)
  assert np.abs(np.asarray(u - x)).max() > 0.1  # not the identity
  assert np.abs(np.asarray(logdet)).max() > 0.05
  xr, logdet_inv = jax.jit(lambda v, u: flow.apply(v, u, method="inverse"))(v, u)
  np.testing.assert_allclose(xr, x, atol=1e-4)
  np.testing.assert_allclose(logdet + logdet_inv, np.zeros(6), atol=1e-4)


@pytest.mark.parametrize("kind", ["maf", "coupling"])
def test_logdet_matches_brute_force_jacobian(kind):
  dim = 4
  flow = flows.build_flow(kind, dim, hidden=6)
  v = _trained_variables(flow, dim, seed=5)
  x = _x(5, dim, seed=7, scale=1.5, shift=0.5)
  _, logdet = flow.apply(v, x)
  brute, jac = _jacobian_logdets(flow, v, x)
  assert np.abs(np.triu(jac, 1)).max() > 1e-3  # two blocks: no longer triangular
  np.testing.assert_allclose(logdet, brute, rtol=1e-4, atol=1e-4)


def test_made_masks_are_autoregressive():
  for reverse in (False, True):
    order = np.arange(4)[::-1] if reverse else np.arange(4)
    m1, m2, m3 = flows.made_masks(4, 9, reverse)
    assert m1.shape == (4, 9) and m2.shape == (9, 9) and m3.shape == (9, 8)
    # Input k reaches output i (m_i and s_i alike) iff some path exists through the masks.
    reach = (m1 @ m2 @ m3) > 0
    allowed = order[:, None] < order[None, :]
    assert not np.any(reach[:, :4] & ~allowed) and not np.any(reach[:, 4:] & ~allowed)
    np.testing.assert_array_equal(reach[:, :4], allowed)  # H >= D - 1: fully connected
  # D = 1: no modulo by zero; the output depends on nothing.
  m1, m2, m3 = flows.made_masks(1, 3, False)
  assert m1.all() and m2.all() and not m3.any()


def test_made_jacobian_is_triangular_in_its_order():
  dim = 5
  x0 = _x(1, dim, seed=2)[0]
  # One-block MAF (natural order): the batch-norm is diagonal, so du/dx is lower-triangular.
  flow = flows.build_flow("maf", dim, num_blocks=1, hidden=8)
  v = _trained_variables(flow, dim, seed=1)
  jac = np.asarray(jax.jacfwd(lambda xi: flow.apply(v, xi[None, :])[0][0])(x0))
  assert np.all(np.triu(jac, 1) == 0)
  assert np.abs(np.tril(jac, -1)).max() > 1e-4 and np.all(np.diag(jac) != 0)
  # The second block of a two-block MAF alone (reversed order): upper-triangular.
  flow2 = flows.build_flow("maf", dim, hidden=8)
  v2 = _trained_variables(flow2, dim, seed=1)
  block1 = lambda xi: flow2.apply(v2, xi[None, :], method=lambda m, x: m.blocks[1](x))
  jac = np.asarray(jax.jacfwd(lambda xi: block1(xi)[0][0])(x0))
  assert np.all(np.tril(jac, -1) == 0)
  assert np.abs(np.triu(jac, 1)).max() > 1e-4
  # A MADE's diagonal is exp(-s_i) and its log-det is -sum(s).
  np.testing.assert_allclose(np.sum(np.log(np.diag(jac))), block1(x0)[1][0], rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize("dim", [3, 4])
def test_made_inverse_takes_dim_passes(dim):
  # Wide and with doubled weights, so the last input really depends on the one before it.
  made = flows.MADE(dim, 8 * dim)
  x = _x(16, dim, seed=0)
  v = jax.tree.map(lambda a: 2 * a, made.init(jax.random.key(1), x))
  u, logdet = made.apply(v, x)
  # D - 1 fixed-point passes from x = 0 are not enough: the last input is still off.
  z = jnp.zeros_like(u)
  for _ in range(dim - 1):
    m, s = made.apply(v, z, method="conditioner")
    z = u * jnp.exp(s) + m
  assert np.abs(np.asarray(z - x)).max() > 1e-2
  xr, logdet_inv = made.apply(v, u, method="inverse")
  np.testing.assert_allclose(xr, x, atol=1e-5)
  np.testing.assert_allclose(logdet + logdet_inv, np.zeros(16), atol=1e-5)


def test_coupling_blocks_alternate_even_and_odd_halves():
  dim = 5
  flow = flows.build_flow("coupling", dim, num_blocks=3)
  v = _trained_variables(flow, dim, seed=2)
  x0 = _x(1, dim, seed=4)[0]
  for i in range(3):
    block = lambda xi, i=i: flow.apply(v, xi[None, :], method=lambda m, x: m.blocks[i](x))[0][0]
    jac = np.asarray(jax.jacfwd(block)(x0))
    kept = np.arange(dim) % 2 == i % 2  # block 0 keeps the even dims, block 1 the odd ones
    np.testing.assert_array_equal(jac[kept], np.eye(dim)[kept])
    # A transformed dim depends on itself and the kept dims only, and on all of those.
    assert np.all(jac[~kept][:, ~kept] == np.diag(np.diag(jac[~kept][:, ~kept])))
    assert np.all(jac[~kept][:, kept] != 0) and np.all(np.diag(jac)[~kept] != 1)


def test_flow_batch_norm_train_mode_and_running_stats():
  bn = flows.FlowBatchNorm(3)
  x1 = _x(8, 3, seed=0, scale=2.0, shift=1.0)
  x2 = _x(8, 3, seed=1, scale=0.5, shift=-1.0)
  v = bn.init(jax.random.key(0), x1, train=True)
  np.testing.assert_array_equal(v["batch_stats"]["mean"], np.zeros(3))  # init does not update
  rng = np.random.RandomState(4)
  log_gamma, beta = rng.randn(3).astype(np.float32), rng.randn(3).astype(np.float32)
  v = {"params": {"log_gamma": jnp.asarray(log_gamma), "beta": jnp.asarray(beta)},
       "batch_stats": v["batch_stats"]}
  (y, logdet), upd = bn.apply(v, x1, train=True, mutable=["batch_stats"])
  xn = np.asarray(x1, np.float64)
  mean, var = xn.mean(0), xn.var(0, ddof=1)
  want = np.exp(log_gamma) * (xn - mean) / np.sqrt(var + 1e-5) + beta
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(y).mean(0), beta, atol=1e-5)
  np.testing.assert_allclose(
      logdet, np.full(8, np.sum(log_gamma - 0.5 * np.log(var + 1e-5))), rtol=1e-5)
  np.testing.assert_allclose(upd["batch_stats"]["mean"], 0.1 * mean, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(upd["batch_stats"]["var"], 0.9 + 0.1 * var, rtol=1e-5)
  # A second update compounds: r <- 0.9 r + 0.1 batch.
  v = {"params": v["params"], "batch_stats": upd["batch_stats"]}
  _, upd2 = bn.apply(v, x2, train=True, mutable=["batch_stats"])
  x2n = np.asarray(x2, np.float64)
  np.testing.assert_allclose(upd2["batch_stats"]["mean"], 0.09 * mean + 0.1 * x2n.mean(0),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(upd2["batch_stats"]["var"],
                             0.81 + 0.09 * var + 0.1 * x2n.var(0, ddof=1), rtol=1e-5)
  # train=True without a mutable collection normalises with batch stats and updates nothing.
  y_frozen, _ = bn.apply(v, x1, train=True)
  np.testing.assert_allclose(y_frozen, want, rtol=1e-5, atol=1e-5)


def test_flow_batch_norm_eval_logdet_and_inverse():
  bn = flows.FlowBatchNorm(3)
  x = _x(4, 3, seed=2)
  v = bn.init(jax.random.key(0), x)
  rng = np.random.RandomState(5)
  v = {"params": {"log_gamma": jnp.asarray(rng.randn(3), jnp.float32),
                  "beta": jnp.asarray(rng.randn(3), jnp.float32)},
       "batch_stats": {"mean": jnp.asarray(rng.randn(3), jnp.float32),
                       "var": jnp.asarray(rng.rand(3) + 0.5, jnp.float32)}}
  y, logdet = bn.apply(v, x)
  jac = jax.jacfwd(lambda xi: bn.apply(v, xi[None, :])[0][0])(x[0])
  assert np.all(np.asarray(jac) == np.diag(np.diag(jac)))
  np.testing.assert_allclose(logdet, np.full(4, jnp.linalg.slogdet(jac)[1]), rtol=1e-5)
  xr, logdet_inv = bn.apply(v, y, method="inverse")
  np.testing.assert_allclose(xr, x, atol=1e-5)
  np.testing.assert_allclose(logdet + logdet_inv, np.zeros(4), atol=1e-5)
