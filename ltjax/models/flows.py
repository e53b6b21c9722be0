"""Normalising flows on feature vectors: DLSA's masked autoregressive flow and a RealNVP coupling flow.

`build_flow(kind, dim)` returns a Linen module mapping data x (B, D) to a latent u (B, D):

- `__call__(x, train=False) -> (u, logdet)`, logdet = log|det du/dx| per example (B,).
  `train=True` normalises with batch statistics and, when `batch_stats` is mutable, moves the
  running statistics: `flow.apply(v, x, train=True, mutable=["batch_stats"])`.
- `inverse(u) -> (x, logdet_inv)`, eval mode only, logdet_inv = log|det dx/du| = -logdet.

Kinds:
- "maf" (silicx/DLSA models/Flows.py, after kamenbliznashki/normalizing_flows): MADE_1 (natural
  order) -> BN_1 -> MADE_2 (reversed order) -> BN_2 -> ..., the order flipping between blocks.
  A MADE maps u_i = (x_i - m_i) * exp(-s_i) with (m_i, s_i) depending on the inputs of strictly
  smaller order only, so its Jacobian is triangular in that order. Its inverse is sequential:
  D passes through the MADE, each fixing one more dimension.
- "coupling" (RealNVP): affine coupling layers, each followed by the same flow batch-norm.
  Block i conditions on the dimensions d with d % 2 == i % 2 (block 0: the even ones) and
  transforms the others: u = (x - t) * exp(-s), s = 2 tanh(raw), both from an MLP of the
  conditioning half. Its inverse is one pass.

The flow batch-norm (RealNVP's, with a log-det) has params `log_gamma`, `beta` and
`batch_stats` `mean`, `var`; train mode uses the unbiased batch variance and a 0.9 / 0.1
running-average update, as the reference.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ltjax.models.resnet import torch_linear_bias_init
from ltjax.models.resnet import torch_linear_kernel_init

FLOW_KINDS = ("maf", "coupling")


def _row(v: jax.Array, like: jax.Array) -> jax.Array:
  """Reshapes a (F,) vector to broadcast against `like` (..., F) (rank promotion is an error)."""
  return v.reshape((1,) * (like.ndim - 1) + (-1,))


def made_degrees(dim: int, hidden: int, reverse: bool) -> tuple[np.ndarray, ...]:
  """Returns the MADE degrees (input (D,), hidden (H,), output (D,)) of one block.

  Input i gets order[i] (order = 0..D-1, or D-1..0 when `reverse`), hidden unit j gets
  j mod (D - 1) (0 when D == 1) and the output pair (m_i, s_i) gets order[i] - 1.
  """
  order = np.arange(dim)[::-1] if reverse else np.arange(dim)
  hidden_deg = np.arange(hidden) % (dim - 1) if dim > 1 else np.zeros(hidden, np.int64)
  return order.copy(), hidden_deg, order - 1


def made_masks(dim: int, hidden: int, reverse: bool) -> tuple[np.ndarray, ...]:
  """Returns the three (in, out) float32 kernel masks of a MADE: D->H, H->H and H->2D.

  A weight src -> dst is kept iff deg(dst) >= deg(src); with output degree order[i] - 1 the
  output (m_i, s_i) then sees only inputs of strictly smaller order. Both output halves share
  one mask.
  """
  deg_in, deg_hidden, deg_out = made_degrees(dim, hidden, reverse)
  keep = lambda src, dst: (dst[None, :] >= src[:, None]).astype(np.float32)
  out = keep(deg_hidden, deg_out)
  return keep(deg_in, deg_hidden), keep(deg_hidden, deg_hidden), np.concatenate([out, out], 1)


class MaskedDense(nn.Module):
  """A Dense layer whose kernel is multiplied by a fixed (in, features) 0/1 mask.

  Init is torch.nn.Linear's default (U(+-1/sqrt(fan_in)) for kernel and bias), as the
  reference's MaskedLinear subclasses nn.Linear.
  """
  features: int
  mask: np.ndarray

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    if tuple(self.mask.shape) != (fan_in, self.features):
      raise ValueError(f"mask shape {self.mask.shape} != kernel shape {(fan_in, self.features)}")
    kernel = self.param("kernel", torch_linear_kernel_init, (fan_in, self.features))
    bias = self.param("bias", torch_linear_bias_init(fan_in), (self.features,))
    # The mask is a numpy constant, not a param: gradients of masked weights are simply 0.
    y = x @ (kernel * jnp.asarray(self.mask, kernel.dtype))
    return y + _row(bias, y)


class MADE(nn.Module):
  """One MADE block: masked D->H->H->2D ReLU MLP giving (m, s), u = (x - m) * exp(-s)."""
  dim: int
  hidden: int
  reverse: bool = False

  def setup(self):
    m_in, m_hidden, m_out = made_masks(self.dim, self.hidden, self.reverse)
    self.dense_in = MaskedDense(self.hidden, m_in)
    self.dense_hidden = MaskedDense(self.hidden, m_hidden)
    self.dense_out = MaskedDense(2 * self.dim, m_out)

  def conditioner(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (m, s), each (..., D); (m_i, s_i) depend on inputs of smaller order only."""
    h = nn.relu(self.dense_in(x))
    h = nn.relu(self.dense_hidden(h))
    out = self.dense_out(h)
    return out[..., :self.dim], out[..., self.dim:]

  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    del train  # no batch statistics in a MADE; the argument keeps the block interface uniform
    m, s = self.conditioner(x)
    return (x - m) * jnp.exp(-s), -jnp.sum(s, axis=-1)

  def inverse(self, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (x, log|det dx/du|) by D passes; pass k fixes the input of order k - 1."""
    step = lambda m, s: u * jnp.exp(s) + m
    # The first pass runs outside the loop: the lifted loop body cannot create params, so this
    # also lets `init(..., method="inverse")` work.
    x = step(*self.conditioner(jnp.zeros_like(u)))

    def body(mdl, carry):
      i, x = carry
      return i + 1, step(*mdl.conditioner(x))

    _, x = nn.while_loop(lambda mdl, c: c[0] < self.dim, body, self, (jnp.int32(1), x))
    # s_i depends only on already-exact inputs, so this equals s of the last pass.
    _, s = self.conditioner(x)
    return x, jnp.sum(s, axis=-1)


class AffineCoupling(nn.Module):
  """RealNVP affine coupling: dims d with d % 2 == parity pass unchanged and condition the rest.

  u_b = (x_b - t) * exp(-s), s = scale_factor * tanh(raw); (t, raw) come from a
  Dense(H) -> ReLU -> Dense(H) -> ReLU -> Dense(2D) MLP of the conditioning half. The last
  layer starts at zero, so a fresh coupling is the identity.
  """
  dim: int
  hidden: int
  parity: int = 0
  scale_factor: float = 2.0

  def setup(self):
    self.dense1 = nn.Dense(self.hidden, kernel_init=torch_linear_kernel_init,
                           bias_init=torch_linear_bias_init(self.dim))
    self.dense2 = nn.Dense(self.hidden, kernel_init=torch_linear_kernel_init,
                           bias_init=torch_linear_bias_init(self.hidden))
    self.dense_out = nn.Dense(2 * self.dim, kernel_init=nn.initializers.zeros,
                              bias_init=nn.initializers.zeros)

  def _keep(self) -> np.ndarray:
    """(D,) 0/1 mask of the conditioning (unchanged) dims."""
    return (np.arange(self.dim) % 2 == self.parity).astype(np.float32)

  def shift_log_scale(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns (t, s), each (..., D), exactly 0 on the conditioning dims."""
    keep = jnp.asarray(self._keep(), x.dtype)
    h = nn.relu(self.dense1(x * _row(keep, x)))
    h = nn.relu(self.dense2(h))
    out = self.dense_out(h)
    # Zeroing t and s on the kept dims makes them pass through exactly (exp(0) = 1).
    change = _row(1.0 - keep, out)
    shift = out[..., :self.dim] * change
    log_scale = self.scale_factor * jnp.tanh(out[..., self.dim:]) * change
    return shift, log_scale

  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    del train
    shift, log_scale = self.shift_log_scale(x)
    return (x - shift) * jnp.exp(-log_scale), -jnp.sum(log_scale, axis=-1)

  def inverse(self, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    # The conditioning dims are unchanged (u = x there), so one pass recovers (t, s).
    shift, log_scale = self.shift_log_scale(u)
    return u * jnp.exp(log_scale) + shift, jnp.sum(log_scale, axis=-1)


class FlowBatchNorm(nn.Module):
  """RealNVP batch-norm with a log-det: y = exp(log_gamma) (x - mean) / sqrt(var + eps) + beta."""
  dim: int
  momentum: float = 0.9
  epsilon: float = 1e-5

  def setup(self):
    self.log_gamma = self.param("log_gamma", nn.initializers.zeros, (self.dim,))
    self.beta = self.param("beta", nn.initializers.zeros, (self.dim,))
    self.mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((self.dim,), jnp.float32))
    self.var = self.variable("batch_stats", "var", lambda: jnp.ones((self.dim,), jnp.float32))

  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    if train:
      mean = jnp.mean(x, axis=0)
      var = jnp.var(x, axis=0, ddof=1)  # unbiased, as torch's x.var(0) in the reference
      if self.is_mutable_collection("batch_stats") and not self.is_initializing():
        self.mean.value = self.momentum * self.mean.value + (1 - self.momentum) * mean
        self.var.value = self.momentum * self.var.value + (1 - self.momentum) * var
    else:
      mean, var = self.mean.value, self.var.value
    inv_std = jax.lax.rsqrt(var + self.epsilon)
    y = _row(jnp.exp(self.log_gamma) * inv_std, x) * (x - _row(mean, x)) + _row(self.beta, x)
    logdet = jnp.sum(self.log_gamma - 0.5 * jnp.log(var + self.epsilon))
    return y, jnp.broadcast_to(logdet, x.shape[:-1])

  def inverse(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    mean, var = self.mean.value, self.var.value
    std = jnp.sqrt(var + self.epsilon)
    x = (y - _row(self.beta, y)) * _row(jnp.exp(-self.log_gamma) * std, y) + _row(mean, y)
    logdet = jnp.sum(0.5 * jnp.log(var + self.epsilon) - self.log_gamma)
    return x, jnp.broadcast_to(logdet, y.shape[:-1])


def _forward(blocks: Sequence[nn.Module], norms: Sequence[nn.Module], x: jax.Array,
             train: bool) -> tuple[jax.Array, jax.Array]:
  logdet = jnp.zeros(x.shape[:-1], x.dtype)
  for block, norm in zip(blocks, norms):
    x, ld = block(x, train)
    logdet += ld
    x, ld = norm(x, train)
    logdet += ld
  return x, logdet


def _inverse(blocks: Sequence[nn.Module], norms: Sequence[nn.Module],
             u: jax.Array) -> tuple[jax.Array, jax.Array]:
  logdet = jnp.zeros(u.shape[:-1], u.dtype)
  for block, norm in zip(reversed(blocks), reversed(norms)):
    u, ld = norm.inverse(u)
    logdet += ld
    u, ld = block.inverse(u)
    logdet += ld
  return u, logdet


class MAF(nn.Module):
  """Masked autoregressive flow: (MADE -> FlowBatchNorm) x num_blocks, order reversed on odd blocks.

  Params: `blocks_i` (MADE i) and `norms_i` (its batch-norm); hidden width defaults to dim.
  """
  dim: int
  num_blocks: int = 2
  hidden: int | None = None

  def setup(self):
    hidden = self.dim if self.hidden is None else self.hidden
    self.blocks = [MADE(self.dim, hidden, reverse=bool(i % 2)) for i in range(self.num_blocks)]
    self.norms = [FlowBatchNorm(self.dim) for _ in range(self.num_blocks)]

  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    """Data (B, D) -> (latent (B, D), log|det du/dx| (B,))."""
    return _forward(self.blocks, self.norms, x, train)

  def inverse(self, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Latent (B, D) -> (data (B, D), log|det dx/du| (B,)), eval mode."""
    return _inverse(self.blocks, self.norms, u)


class CouplingFlow(nn.Module):
  """RealNVP flow: (AffineCoupling -> FlowBatchNorm) x num_blocks, even/odd halves alternating.

  Params: `blocks_i` (coupling i, conditioning on dims d % 2 == i % 2) and `norms_i`.
  """
  dim: int
  num_blocks: int = 2
  hidden: int | None = None

  def setup(self):
    hidden = self.dim if self.hidden is None else self.hidden
    self.blocks = [AffineCoupling(self.dim, hidden, parity=i % 2)
                   for i in range(self.num_blocks)]
    self.norms = [FlowBatchNorm(self.dim) for _ in range(self.num_blocks)]

  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    """Data (B, D) -> (latent (B, D), log|det du/dx| (B,))."""
    return _forward(self.blocks, self.norms, x, train)

  def inverse(self, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Latent (B, D) -> (data (B, D), log|det dx/du| (B,)), eval mode."""
    return _inverse(self.blocks, self.norms, u)


def build_flow(kind: str, dim: int, *, num_blocks: int = 2,
               hidden: int | None = None) -> nn.Module:
  """Returns an unbound flow of `kind` ("maf" or "coupling") on `dim`-dimensional vectors.

  Args:
    kind: "maf" (DLSA's masked autoregressive flow) or "coupling" (RealNVP).
    dim: feature dimension D.
    num_blocks: number of (MADE or coupling) -> batch-norm blocks.
    hidden: hidden width of the MADE / coupling MLPs; None means dim, as the reference.

  Raises:
    ValueError: for an unknown kind or a non-positive dim / num_blocks / hidden.
  """
  if dim < 1 or num_blocks < 1 or (hidden is not None and hidden < 1):
    raise ValueError(f"flow needs dim, num_blocks, hidden >= 1; got {dim}, {num_blocks}, "
                     f"{hidden}")
  if kind == "maf":
    return MAF(dim=dim, num_blocks=num_blocks, hidden=hidden)
  if kind == "coupling":
    return CouplingFlow(dim=dim, num_blocks=num_blocks, hidden=hidden)
  raise ValueError(f"unknown flow kind {kind!r}; valid kinds: {', '.join(FLOW_KINDS)}")
