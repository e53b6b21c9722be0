"""DLSA's cluster-aided and regular classifiers on frozen features (dlsa.md §3.3, §3.5).

A head has two branches summed: logits = A.x + a + B.[z; p] + b, where x is the feature, z the
feature again (the reference code) or the stage's flow latent (the paper's figure), and p the
cluster prior row of the sample's nearest component (cluster-aided classifier only; the
regular classifier has no p). p is gathered from the (K, C) prior by cluster id inside the
step, so no (N, C) matrix is ever materialised. "cosine" branches squash their input
(|v| / (1 + |v|)) v / |v| and take s * cos with the unit class weights (s = 16, no bias).

Training: Balanced Softmax (the prior log(n_c) added inside the loss only) or plain CE, plain SGD
at a constant lr without momentum or weight decay, as the reference. The kept epoch is the one
with the best accuracy of `select_fn` (ltjax passes the validation samples routed to this head).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ltjax.data import samplers
from ltjax.runs import feature_cache

ABSENT_LOGIT = -1e4  # logit of a masked (absent) class in assembled outputs: probability ~ 0


@dataclasses.dataclass(frozen=True)
class HeadInputs:
  """A head's inputs for N samples. z=None means z := x; prior=None means no cluster branch."""
  x: np.ndarray  # (N, D)
  z: np.ndarray | None = None  # (N, Dz)
  cluster: np.ndarray | None = None  # (N,) nearest component
  prior: np.ndarray | None = None  # (K, C) cluster prior

  def take(self, index: np.ndarray) -> "HeadInputs":
    return HeadInputs(self.x[index], None if self.z is None else self.z[index],
                      None if self.cluster is None else self.cluster[index], self.prior)

  def __len__(self):
    return len(self.x)


def _torch_linear(rng, fan_in: int, num_classes: int, bias: bool) -> dict[str, jax.Array]:
  bound = 1.0 / np.sqrt(max(fan_in, 1))
  k1, k2 = jax.random.split(rng)
  out = {"kernel": jax.random.uniform(k1, (fan_in, num_classes), minval=-bound, maxval=bound)}
  if bias:
    out["bias"] = jax.random.uniform(k2, (num_classes,), minval=-bound, maxval=bound)
  return out


def init_head(rng: jax.Array, inputs: HeadInputs, num_classes: int, kind: str = "linear"):
  """Parameters of a two-branch head (PyTorch nn.Linear initialisation)."""
  if kind not in ("linear", "cosine"):
    raise ValueError(f"dlsa head={kind!r}; choose 'linear' or 'cosine'")
  dim_x = inputs.x.shape[1]
  dim_z = dim_x if inputs.z is None else inputs.z.shape[1]
  dim_second = dim_z + (0 if inputs.prior is None else inputs.prior.shape[1])
  kx, kz = jax.random.split(rng)
  bias = kind == "linear"
  return {"x": _torch_linear(kx, dim_x, num_classes, bias),
          "second": _torch_linear(kz, dim_second, num_classes, bias)}


def _squash_cos(v, kernel, scale):
  norm = jnp.linalg.norm(v, axis=-1, keepdims=True)
  squashed = v * (1.0 / (1.0 + norm))  # = (|v| / (1 + |v|)) * v / |v|
  w = kernel / jnp.maximum(jnp.linalg.norm(kernel, axis=0, keepdims=True), 1e-12)
  return scale * squashed @ w


def head_logits(params, x, z, p, kind: str = "linear", scale: float = 16.0) -> jax.Array:
  """(B, C) logits of the head for a batch; z and p as gathered for that batch (p may be None)."""
  second = z if p is None else jnp.concatenate([z, p], axis=-1)
  if kind == "linear":
    return (x @ params["x"]["kernel"] + params["x"]["bias"][None, :]
            + second @ params["second"]["kernel"] + params["second"]["bias"][None, :])
  return (_squash_cos(x, params["x"]["kernel"], scale)
          + _squash_cos(second, params["second"]["kernel"], scale))


def _device_inputs(inputs: HeadInputs):
  x = jnp.asarray(inputs.x, jnp.float32)
  z = x if inputs.z is None else jnp.asarray(inputs.z, jnp.float32)
  cluster = None if inputs.cluster is None else jnp.asarray(inputs.cluster, jnp.int32)
  prior = None if inputs.prior is None else jnp.asarray(inputs.prior, jnp.float32)
  return x, z, cluster, prior


def _batch_logits(params, dev, idx, kind, scale):
  x, z, cluster, prior = dev
  p = None if prior is None else prior[cluster[idx]]
  return head_logits(params, x[idx], z[idx], p, kind, scale)


def predict_logits(params, inputs: HeadInputs, kind: str = "linear", scale: float = 16.0,
                   mask: np.ndarray | None = None, chunk: int = 8192) -> np.ndarray:
  """(N, C) raw logits (no prior added); classes outside `mask` get ABSENT_LOGIT."""
  n = len(inputs)
  outs = []
  for start in range(0, n, chunk):
    piece = inputs.take(np.arange(start, min(n, start + chunk)))
    dev = _device_inputs(piece)
    outs.append(np.asarray(_batch_logits(params, dev, jnp.arange(len(piece)), kind, scale)))
  if not outs:
    return np.zeros((0, params["x"]["kernel"].shape[1]), np.float32)
  logits = np.concatenate(outs)
  if mask is not None:
    logits = np.where(mask[None, :], logits, ABSENT_LOGIT).astype(np.float32)
  return logits


def _check_head_data(inputs: HeadInputs, labels, num_classes: int) -> np.ndarray:
  """The labels as class ids; raises ValueError (naming the array) for non-finite inputs, labels
  outside [0, num_classes) or a row count that is not the labels' (arrays from a notebook)."""
  where = "dlsa train_head"
  labels = feature_cache.check_labels(labels, where, num_classes)
  if not len(labels):
    raise ValueError(f"{where}: no training samples (0 labels); pass at least one")
  for name in ("x", "z", "cluster"):
    value = getattr(inputs, name)
    if value is not None and len(value) != len(labels):
      raise ValueError(f"{where}: inputs.{name} has {len(value)} rows but labels has "
                       f"{len(labels)}; both must hold the same samples")
  arrays = {f"inputs.{k}": getattr(inputs, k) for k in ("x", "z", "prior")
            if getattr(inputs, k) is not None}
  feature_cache.check_finite(arrays, where)
  return labels


def train_head(inputs: HeadInputs, labels: np.ndarray, num_classes: int, *, log_prior,
               mask: np.ndarray | None = None, kind: str = "linear", scale: float = 16.0,
               num_epochs: int = 150, batch_size: int = 128, learning_rate: float = 1e-2,
               sampler: str = "instance", eval_every: int = 5, seed: int = 0,
               last_batch: str = "keep",
               select_fn: Callable[[dict], float | None] | None = None):
  """Trains a head on `inputs` with loss CE(logits + log_prior) over the classes in `mask`.

  Args:
    inputs: the training samples' HeadInputs.
    labels: (N,) int labels.
    num_classes: C.
    log_prior: (C,) added to the logits inside the loss only (Balanced Softmax: log counts;
      zeros for plain CE).
    mask: (C,) bool classes the head may predict (None: all); masked classes get no softmax
      mass in training.
    kind, scale: "linear" or "cosine" (with scale s).
    num_epochs, batch_size, learning_rate, sampler, seed: plain SGD over sampler-ordered
      batches (`ltjax.data.samplers.epoch_order`).
    eval_every: epochs between calls of `select_fn`.
    last_batch: "keep": every epoch ends with the partial batch of the n % batch_size samples
      left (the reference's DataLoader; the loss is that batch's mean); "drop": n // batch_size
      full batches, the rest of the epoch's order unused.
    select_fn: params -> accuracy on the selection split (None: nothing to select on); the
      best-scoring evaluated params are kept (the last ones when select_fn is None or always
      returns None).

  Returns:
    (params, history): history lists {"epoch", "loss", "select"} per evaluation.

  Raises:
    ValueError: before any training, for non-finite inputs, labels outside [0, num_classes) or
      rows that are not the labels'.
  """
  labels = _check_head_data(inputs, labels, num_classes)
  n = len(labels)
  params = init_head(jax.random.key(seed), inputs, num_classes, kind)
  dev = _device_inputs(inputs)
  labels_d = jnp.asarray(labels, jnp.int32)
  log_prior = jnp.asarray(log_prior, jnp.float32)
  mask_d = jnp.ones((num_classes,), bool) if mask is None else jnp.asarray(mask)
  if last_batch not in ("keep", "drop"):
    raise ValueError(f"config.dlsa.head_last_batch={last_batch!r}; choose 'keep' or 'drop'")
  batch_size = max(1, min(batch_size, n))
  used = n if last_batch == "keep" else max(1, n // batch_size) * batch_size
  steps_per_epoch = -(-used // batch_size)
  # Slots past `used` in the last batch are padding: index 0 with weight 0.
  slot_weight = (np.arange(steps_per_epoch * batch_size) < used).astype(np.float32)
  slot_weight = slot_weight.reshape(steps_per_epoch, batch_size)
  tx = optax.sgd(learning_rate)

  def loss_fn(p, idx, weight):
    logits = _batch_logits(p, dev, idx, kind, scale) + log_prior[None, :]
    logits = jnp.where(mask_d[None, :], logits, -jnp.inf)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, labels_d[idx][:, None], axis=-1)[:, 0]
    return -jnp.sum(weight * picked) / jnp.sum(weight)  # the mean over the batch's samples

  @jax.jit
  def run(p, opt_state, order, weights):
    def step(carry, batch):
      p, s = carry
      loss, grads = jax.value_and_grad(loss_fn)(p, *batch)
      updates, s = tx.update(grads, s, p)
      return (optax.apply_updates(p, updates), s), loss
    (p, opt_state), curve = jax.lax.scan(step, (p, opt_state), (order, weights))
    return p, opt_state, curve

  def epoch_batches(epoch):
    order = samplers.epoch_order(labels, sampler, seed, epoch)[:used]
    order = np.pad(order, (0, steps_per_epoch * batch_size - used))
    return order.reshape(steps_per_epoch, batch_size)

  opt_state = tx.init(params)
  best, best_score, history = params, None, []
  for first in range(0, num_epochs, eval_every):
    epochs = range(first, min(num_epochs, first + eval_every))
    order = np.concatenate([epoch_batches(e) for e in epochs])
    weights = np.concatenate([slot_weight] * len(epochs))
    params, opt_state, curve = run(params, opt_state, jnp.asarray(order), jnp.asarray(weights))
    score = None if select_fn is None else select_fn(params)
    history.append({"epoch": epochs[-1], "loss": float(np.mean(np.asarray(curve)[-steps_per_epoch:])),
                    "select": score})
    if score is None:
      if best_score is None:
        best = params
    elif best_score is None or score > best_score:
      best, best_score = params, score
  return jax.device_get(best), history
