"""The RIDE loss against a numpy re-computation, its temperature, sign and zero cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltjax import losses

COUNTS = np.array([500.0, 120.0, 40.0, 10.0])


def np_softmax(z):
  z = z - z.max(-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(-1, keepdims=True)


def np_ride(expert_logits, labels, counts, drw, lam=-0.45, alpha=1.0, gamma=0.05, max_m=0.5,
            s=30.0):
  """Plain numpy transcription of ride.md section 2."""
  num_classes = counts.shape[0]
  m = counts ** -0.25
  m = m * max_m / m.max()
  if drw:
    w = (1 - 0.9999) / (1 - 0.9999 ** counts)
    w = w / w.sum() * num_classes
    beta = gamma * num_classes * counts / counts.sum() + (1 - gamma)
    temp = alpha * beta / beta.max()
  else:
    w = np.ones(num_classes)
    temp = np.full(num_classes, alpha)
  mean_logits = expert_logits.mean(0)
  target = np_softmax(mean_logits / temp)
  total = 0.0
  for z in expert_logits:
    zm = z.copy()
    zm[np.arange(len(labels)), labels] -= s * m[labels]
    logp = np.log(np_softmax(zm))
    ce = -logp[np.arange(len(labels)), labels]
    base = np.sum(w[labels] * ce) / np.sum(w[labels])
    log_q = np.log(np_softmax(z / temp))
    kl = np.sum(target * (np.log(target) - log_q)) / len(labels)
    total += base + lam * temp.mean() ** 2 * kl
  return total


def _inputs(seed=0, experts=3, batch=5):
  rng = np.random.RandomState(seed)
  return (rng.randn(experts, batch, 4) * 5).astype(np.float32), rng.randint(0, 4, batch)


@pytest.mark.parametrize("drw", [False, True])
def test_ride_loss_matches_numpy(drw):
  z, y = _inputs()
  got = losses.ride_loss(jnp.asarray(z), jnp.asarray(y), COUNTS, drw_active=drw)
  assert float(got) == pytest.approx(np_ride(z.astype(np.float64), y, COUNTS, drw), rel=1e-4)


def test_temperature_formula():
  t = np.asarray(losses.diversity_temperature(COUNTS, True, reweight_factor=0.05))
  beta = 0.05 * 4 * COUNTS / COUNTS.sum() + 0.95
  np.testing.assert_allclose(t, beta / beta.max(), rtol=1e-6)
  assert t[0] == pytest.approx(1.0) and np.all(np.diff(t) < 0)
  np.testing.assert_allclose(losses.diversity_temperature(COUNTS, False), np.ones(4))


def test_cifar100_tail_temperature_is_0_807():
  counts = np.array([int(500 * 0.01 ** (i / 99)) for i in range(100)], np.float32)
  t = np.asarray(losses.diversity_temperature(counts, True, reweight_factor=0.05))
  assert t[0] == pytest.approx(1.0) and t[-1] == pytest.approx(0.807, abs=1e-3)


def _diversity_part(z, y):
  """The loss minus its LDAM part (lambda = 0 leaves only LDAM)."""
  with_div = losses.ride_loss(z, y, COUNTS, drw_active=True, diversity_factor=-1.0)
  without = losses.ride_loss(z, y, COUNTS, drw_active=True, diversity_factor=0.0)
  return float(with_div - without)


def test_diversity_is_zero_when_experts_agree_and_rewards_disagreement():
  z, y = _inputs()
  same = jnp.broadcast_to(jnp.asarray(z[0]), z.shape)
  assert _diversity_part(same, jnp.asarray(y)) == pytest.approx(0.0, abs=1e-5)
  # Disagreeing experts: KL > 0, and lambda < 0 makes the loss smaller.
  assert _diversity_part(jnp.asarray(z), jnp.asarray(y)) < -1e-3


def test_target_distribution_is_not_differentiated():
  z, y = _inputs(experts=2)
  # With lambda only (LDAM gradient removed by a huge margin? no: compare to a manual form):
  # d/dz of the KL term must equal -lambda*T^2*(p_bar - q_i)/B for each expert when pbar is
  # a constant.
  def kl_only(z):
    return (losses.ride_loss(z, jnp.asarray(y), COUNTS, drw_active=False, diversity_factor=1.0)
            - losses.ride_loss(z, jnp.asarray(y), COUNTS, drw_active=False,
                               diversity_factor=0.0))
  g = np.asarray(jax.grad(kl_only)(jnp.asarray(z)))
  target = np_softmax(z.mean(0))
  for i in range(2):
    np.testing.assert_allclose(g[i], (np_softmax(z[i]) - target) / z.shape[1], atol=1e-5)


def test_loss_sums_over_experts():
  z, y = _inputs(experts=1)
  one = losses.ride_loss(jnp.asarray(z), jnp.asarray(y), COUNTS, drw_active=False)
  two = losses.ride_loss(jnp.asarray(np.concatenate([z, z])), jnp.asarray(y), COUNTS,
                         drw_active=False)
  assert float(two) == pytest.approx(2 * float(one), rel=1e-5)


def test_distillation_loss_by_hand():
  rng = np.random.RandomState(1)
  s, t = rng.randn(3, 4).astype(np.float32), rng.randn(3, 4).astype(np.float32)
  p, q = np_softmax(t / 1.5), np_softmax(s / 1.5)
  expected = 1.5**2 * np.sum(p * (np.log(p) - np.log(q))) / 3
  assert float(losses.distillation_loss(s, t, 1.5)) == pytest.approx(expected, rel=1e-5)
  assert float(losses.distillation_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
