"""Training DLSA's flow filter on frozen features (dlsa.md §2.4-2.6).

One jitted, data-sharded step minimises

  lambda_lh * L_lh + lambda_pur * L_pur + lambda_bal * L_bal

over class-balanced (anchor, negative) pairs: L_lh the class-reweighted NLL of the anchors,
L_pur = mean_i sum_k sg(q(k|anchor_i)) log q(k|negative_i) (minimised, so negatives are pushed
out of their anchor's clusters: the reference's sign), L_bal the KL from uniform of a
bias-corrected EMA of the anchors' mean cluster posterior, carried in the train state.

Non-finite losses: the step computes the update, and when the loss or any gradient is not
finite it keeps the previous parameters, batch statistics and EMA instead and counts the skip
(`FlowState.skipped`). At the end of an epoch with skipped steps (or non-finite train
log-likelihoods), `nan_policy="rollback"` restores the last finite epoch's state and halves the
learning rate; `"skip"` only counts and logs. Either way the numbers are logged and returned.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ltjax.core import rules
from ltjax.core import sharding
from ltjax.dlsa import mixture
from ltjax.models import flows

# ImageNet-LT's label space, for which the reference's NLL weight (2.0) was tuned.
REFERENCE_NUM_CLASSES = 1000


@dataclasses.dataclass(frozen=True)
class FlowConfig:
  """Hyper-parameters of one stage's flow (defaults: the reference's ImageNet-LT config)."""
  kind: str = rules.field("maf", rules.Choice(("maf", "coupling")))
  num_blocks: int = rules.field(2, rules.COUNT)
  hidden: int | None = rules.field(None, rules.Optional(rules.COUNT))  # None: the feature dim
  num_clusters: int = rules.field(500, rules.COUNT)
  center_std: float = rules.field(0.05, rules.POSITIVE)
  batch_size: int = rules.field(1024, rules.COUNT)
  num_epochs: int = rules.field(50, rules.COUNT)
  learning_rate: float = rules.field(0.2, rules.POSITIVE)
  lambda_lh: float = rules.field(2.0, rules.NON_NEGATIVE)
  lambda_pur: float = rules.field(0.02, rules.NON_NEGATIVE)
  lambda_bal: float = rules.field(1.0, rules.NON_NEGATIVE)
  weight_q: float = rules.field(2.0, rules.NON_NEGATIVE)
  ema_momentum: float = rules.field(0.7, rules.UNIT_OPEN)
  # Multiply the NLL weights by C / 1000 so their mean per anchor matches the reference's
  # ImageNet-LT scale whatever the number of classes (weights sum to 1 over classes, so on a
  # 10-class problem each anchor otherwise weighs 100x more than on ImageNet-LT).
  nll_class_scaling: bool = rules.field(False, rules.Flag())
  nan_policy: str = rules.field("rollback", rules.Choice(("rollback", "skip")))
  # "keep": an epoch is N pairs, the last batch partial (the reference's DataLoader, which
  # also moves the BN statistics on that small batch); "drop": N // batch full batches.
  last_batch: str = rules.field("keep", rules.Choice(("keep", "drop")))
  min_purity: float = rules.field(0.7, rules.UNIT)
  min_size: int = rules.field(10, rules.COUNT)
  max_cluster_fraction: float = rules.field(5000 / 115846,
                                            rules.Number(lo=0, hi=1, lo_open=True))
  eval_chunk: int = rules.field(4096, rules.COUNT)

  def __post_init__(self):
    rules.check_fields(self, "dlsa.flow")


@flax.struct.dataclass
class FlowState:
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  balance_ema: jax.Array
  skipped: jax.Array


def class_weights(labels: np.ndarray, num_classes: int, q: float = 2.0,
                  class_scaling: bool = False) -> np.ndarray:
  """(C,) anchor weight per class: (n_max / n_c)^q normalised to sum to 1 over the classes
  present in `labels` (absent classes get 0); times C / 1000 with `class_scaling`."""
  counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
  present = counts > 0
  raw = np.zeros(num_classes)
  raw[present] = (counts.max() / counts[present]) ** q
  weights = raw / raw.sum()
  if class_scaling:
    weights *= num_classes / REFERENCE_NUM_CLASSES
  return weights.astype(np.float32)


def sample_pairs(labels: np.ndarray, num_steps: int, batch_size: int, seed: int, stage: int,
                 epoch: int, stream: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """(anchors, negatives), each (num_steps, batch_size) indices into `labels`.

  Per pair: two distinct classes drawn uniformly from the classes present, then one random
  sample of each (the reference's ContrastiveDataset). Deterministic from (seed, stage, epoch,
  stream); stream 1 draws an epoch's partial last batch without moving the full batches'.
  With a single class present the negative comes from the same class.
  """
  labels = np.asarray(labels)
  rng = np.random.default_rng([seed, stage, epoch] + ([stream] if stream else []))
  counts = np.bincount(labels)
  present = np.nonzero(counts)[0]
  n = num_steps * batch_size
  a = rng.integers(0, len(present), n)
  if len(present) > 1:
    b = (a + rng.integers(1, len(present), n)) % len(present)
  else:
    b = a
  by_class = np.argsort(labels, kind="stable")
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

  def draw(class_pos):
    classes = present[class_pos]
    offsets = np.floor(rng.random(n) * counts[classes]).astype(np.int64)
    return by_class[starts[classes] + offsets].reshape(num_steps, batch_size)

  return draw(a), draw(b)


def make_flow_step(flow, means: jax.Array, tx: optax.GradientTransformation, fc: FlowConfig):
  """Pure step: (FlowState, {"anchor", "negative", "weight"}) -> (FlowState, metrics)."""
  num_clusters = means.shape[0]

  def loss_fn(params, state, batch):
    (u_a, logdet_a), updates = flow.apply(
        {"params": params, "batch_stats": state.batch_stats}, batch["anchor"], train=True,
        mutable=["batch_stats"])
    # The negatives are forwarded in train mode too: BN statistics move twice per step.
    (u_n, _), updates = flow.apply(
        {"params": params, "batch_stats": updates["batch_stats"]}, batch["negative"],
        train=True, mutable=["batch_stats"])
    log_comp_a = mixture.mixture_log_prob(u_a, means)
    log_px = (jax.nn.logsumexp(log_comp_a, axis=-1) - math.log(num_clusters) + logdet_a)
    nll = -jnp.mean(batch["weight"] * log_px)
    log_q_a = jax.nn.log_softmax(log_comp_a, axis=-1)
    log_q_n = jax.nn.log_softmax(mixture.mixture_log_prob(u_n, means), axis=-1)
    q_a = jnp.exp(log_q_a)
    purity = jnp.mean(jnp.sum(jax.lax.stop_gradient(q_a) * log_q_n, axis=-1))
    t = (state.step + 1).astype(jnp.float32)
    ema = fc.ema_momentum * state.balance_ema + (1 - fc.ema_momentum) * (
        jnp.mean(q_a, axis=0) + 1e-7)
    corrected = ema / (1 - fc.ema_momentum ** t)
    balance = jnp.sum(corrected * jnp.log(corrected)) + math.log(num_clusters)
    loss = fc.lambda_lh * nll + fc.lambda_pur * purity + fc.lambda_bal * balance
    aux = {"nll": nll, "purity": purity, "balance": balance}
    return loss, (aux, updates["batch_stats"], jax.lax.stop_gradient(ema))

  def step(state: FlowState, batch):
    (loss, (aux, batch_stats, ema)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state, batch)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)
    state = FlowState(step=state.step + 1, params=keep(params, state.params),
                      batch_stats=keep(batch_stats, state.batch_stats),
                      opt_state=keep(opt_state, state.opt_state),
                      balance_ema=keep(ema, state.balance_ema),
                      skipped=state.skipped + (~finite).astype(jnp.int32))
    return state, {"loss": loss, "finite": finite, **aux}

  return step


def make_flow_eval(flow, means: jax.Array, chunk: int):
  """Returns f(variables, features (N, D) numpy) -> (log p(x) (N,), nearest cluster (N,),
  latent u (N, D)) in eval mode, computed in fixed-size padded chunks (one compilation)."""

  @jax.jit
  def apply_chunk(variables, x):
    u, logdet = flow.apply(variables, x)
    return mixture.log_likelihood(u, logdet, means), mixture.nearest_cluster(u, means), u

  def run(variables, features):
    features = np.asarray(features, np.float32)
    n = len(features)
    outs = []
    for start in range(0, n, chunk):
      piece = features[start:start + chunk]
      pad = chunk - len(piece) if n > chunk else 0
      if pad:
        piece = np.concatenate([piece, np.zeros((pad, piece.shape[1]), np.float32)])
      log_px, cluster, u = jax.device_get(apply_chunk(variables, piece))
      keep = len(piece) - pad
      outs.append((log_px[:keep], cluster[:keep], u[:keep]))
    if not outs:
      d = features.shape[1]
      return np.zeros((0,), np.float32), np.zeros((0,), np.int32), np.zeros((0, d), np.float32)
    return tuple(np.concatenate(parts) for parts in zip(*outs))

  return run


@dataclasses.dataclass
class TrainedFlow:
  """A stage's chosen flow and what its training did."""
  flow: Any
  variables: dict
  means: jax.Array
  history: list[dict]
  chosen_epoch: int
  skipped_steps: int
  rollbacks: int


def train_flow(features: np.ndarray, labels: np.ndarray, num_classes: int, fc: FlowConfig, *,
               seed: int, stage: int, mesh: jax.sharding.Mesh | None = None) -> TrainedFlow:
  """Trains a fresh flow on (features, labels) and returns the epoch the reference's rule picks.

  The kept epoch has the strictly highest number of clusters with purity > min_purity and size
  > min_size among qualifying epochs (largest cluster < max_cluster_fraction of the subset, and
  finite log-likelihoods); when none qualifies, the last finite epoch (or the initial flow) is
  kept and a warning logged. Never raises for a subset with one class or too few samples.
  An epoch is N // batch full batches of pairs, and with `last_batch="keep"` one more of the
  N % batch left (each epoch's record says how many steps it took).
  """
  features = np.asarray(features, np.float32)
  labels = np.asarray(labels)
  n, dim = features.shape
  mesh = mesh or sharding.make_data_mesh()
  flow = flows.build_flow(fc.kind, dim, num_blocks=fc.num_blocks, hidden=fc.hidden)
  means_key, init_key = jax.random.split(jax.random.fold_in(jax.random.key(seed), stage))
  means = mixture.random_means(means_key, fc.num_clusters, dim, fc.center_std)
  num_devices = mesh.devices.size
  batch = max(num_devices, min(fc.batch_size, n) // num_devices * num_devices)
  steps_per_epoch = max(1, n // batch)
  # The partial last batch, rounded down to a multiple of the devices (it is sharded too);
  # never a single sample, whose unbiased batch variance in the flow's BN is 0 / 0.
  rest = (n - steps_per_epoch * batch) // num_devices * num_devices
  rest = rest if fc.last_batch == "keep" and rest >= 2 else 0
  variables = flow.init(init_key, jnp.zeros((2, dim), jnp.float32))
  tx = optax.inject_hyperparams(optax.sgd)(learning_rate=fc.learning_rate)
  replicated = sharding.replicated(mesh)
  state = FlowState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                    batch_stats=variables["batch_stats"],
                    opt_state=tx.init(variables["params"]),
                    balance_ema=jnp.zeros((fc.num_clusters,), jnp.float32),
                    skipped=jnp.zeros((), jnp.int32))
  state = jax.device_put(state, replicated)
  step = jax.jit(make_flow_step(flow, means, tx, fc), donate_argnums=(0,))
  evaluate = make_flow_eval(flow, means, fc.eval_chunk)
  weights = class_weights(labels, num_classes, fc.weight_q, fc.nll_class_scaling)
  local = batch // jax.process_count()
  lo = jax.process_index() * local

  def snapshot(s):
    return jax.device_get({"params": s.params, "batch_stats": s.batch_stats})

  good = jax.device_get(state)
  best = {"score": -1, "epoch": -1, "variables": snapshot(state)}
  last_finite = {"epoch": -1, "variables": snapshot(state)}
  history, rollbacks, total_skipped = [], 0, 0
  for epoch in range(fc.num_epochs):
    skipped_before = int(state.skipped)
    anchors, negatives = sample_pairs(labels, steps_per_epoch, batch, seed, stage, epoch)
    batches = [(anchors[s, lo:lo + local], negatives[s, lo:lo + local])
               for s in range(steps_per_epoch)]
    if rest:  # one more compilation, for the partial batch's shape
      part_a, part_n = sample_pairs(labels, 1, rest, seed, stage, epoch, stream=1)
      rest_local = rest // jax.process_count()
      rest_lo = jax.process_index() * rest_local
      batches.append((part_a[0, rest_lo:rest_lo + rest_local],
                      part_n[0, rest_lo:rest_lo + rest_local]))
    losses = []
    for a, b in batches:
      feed = sharding.global_batch(mesh, {"anchor": features[a], "negative": features[b],
                                          "weight": weights[labels[a]]})
      state, m = step(state, feed)
      losses.append(m)
    m = jax.device_get(losses)
    skipped = int(state.skipped) - skipped_before
    total_skipped += skipped
    variables_now = snapshot(state)
    log_px, clusters, _ = evaluate(variables_now, features)
    finite = bool(np.all(np.isfinite(log_px)))
    score, qualifies = mixture.checkpoint_score(
        clusters, labels, fc.num_clusters, num_classes, min_purity=fc.min_purity,
        min_size=fc.min_size, max_cluster_fraction=fc.max_cluster_fraction)
    lr = float(state.opt_state.hyperparams["learning_rate"])
    finite_losses = [float(x["loss"]) for x in m if bool(x["finite"])]
    record = {"stage": stage, "epoch": epoch, "steps": len(batches),
              "loss": float(np.mean(finite_losses))
              if finite_losses else float("nan"), "skipped_steps": skipped,
              "finite_log_px": finite, "score": score, "qualifies": qualifies,
              "largest_cluster": int(np.bincount(clusters, minlength=1).max(initial=0)),
              "learning_rate": lr,
              **{k: float(np.mean([float(x[k]) for x in m if bool(x["finite"])] or [np.nan]))
                 for k in ("nll", "purity", "balance")}}
    history.append(record)
    logging.info("dlsa stage %d flow epoch %d: %s", stage, epoch, record)
    if (skipped or not finite) and fc.nan_policy == "rollback":
      rollbacks += 1
      good = good.replace(opt_state=_with_lr(good.opt_state, lr * 0.5))
      logging.warning("dlsa stage %d epoch %d: %d non-finite steps%s; rolled back to the last "
                      "finite epoch and halved the flow lr to %g", stage, epoch, skipped,
                      "" if finite else " and non-finite log p(x)", lr * 0.5)
      state = jax.device_put(good, replicated)
      continue
    if finite:
      good = jax.device_get(state)
      last_finite = {"epoch": epoch, "variables": variables_now}
      if qualifies and score > best["score"]:
        best = {"score": score, "epoch": epoch, "variables": variables_now}
  if best["epoch"] < 0:
    logging.warning("dlsa stage %d: no flow epoch qualified (largest cluster >= %.3f of the "
                    "subset or non-finite); keeping epoch %d", stage, fc.max_cluster_fraction,
                    last_finite["epoch"])
    best = {"score": -1, **last_finite}
  return TrainedFlow(flow=flow, variables=best["variables"], means=means, history=history,
                     chosen_epoch=best["epoch"], skipped_steps=total_skipped,
                     rollbacks=rollbacks)


def _with_lr(opt_state, lr: float):
  """The inject_hyperparams state with a new learning rate."""
  hyper = dict(opt_state.hyperparams)
  hyper["learning_rate"] = jnp.asarray(lr, jnp.asarray(hyper["learning_rate"]).dtype)
  return opt_state._replace(hyperparams=hyper)
