r"""Train-step and evaluation throughput: ltjax against the same model in PyTorch, one run.

  pip install -e '.[bench]'          # torch==2.13.0 (CPU build)
  python experiments/bench.py --steps 20 --batch 128 [--models resnet32,ride3] [--bf16]

For each model it builds the ltjax network and a PyTorch network of the same architecture
(parameter counts printed and checked equal), times `--steps` training steps after warm-up
(compilation for ltjax, reported separately) and `--steps` forward passes, and prints img/s and
the ltjax / PyTorch ratio. Both sides run SGD with momentum on the same random uint8 batch; the
ltjax step also does its on-device pad-crop-flip augmentation, the PyTorch step gets ready
tensors (the reference does augmentation in DataLoader workers). RIDE-3's loss here is the sum
of the experts' cross-entropies on both sides (the diversity term is not part of the timing).
Machine: use it to itself; any other job on the cores makes the figures meaningless.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


# ---------------------------------------------------------------- PyTorch side
def torch_models():
  """PyTorch CIFAR ResNet-32 (option-A shortcuts) and RIDE-3 with the same shapes as ltjax."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  class Block(nn.Module):
    def __init__(self, cin, cout, stride):
      super().__init__()
      self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.b1 = nn.BatchNorm2d(cout)
      self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.b2 = nn.BatchNorm2d(cout)
      self.pad = cout - cin
      self.stride = stride

    def forward(self, x):
      y = F.relu(self.b1(self.c1(x)))
      y = self.b2(self.c2(y))
      s = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
      if self.pad:
        s = F.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
      return F.relu(y + s)

  def stage(cin, cout, n, stride):
    return nn.Sequential(*[Block(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                           for i in range(n)])

  class ResNet32(nn.Module):
    def __init__(self, classes):
      super().__init__()
      self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
      self.bn = nn.BatchNorm2d(16)
      self.layers = nn.Sequential(stage(16, 16, 5, 1), stage(16, 32, 5, 2), stage(32, 64, 5, 2))
      self.fc = nn.Linear(64, classes)

    def forward(self, x):
      x = self.layers(F.relu(self.bn(self.conv(x))))
      return self.fc(x.mean((2, 3)))

  class Ride(nn.Module):
    def __init__(self, classes, experts=3):
      super().__init__()
      self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
      self.bn = nn.BatchNorm2d(16)
      self.layer1 = stage(16, 16, 5, 1)
      self.experts = nn.ModuleList(
          nn.Sequential(stage(16, 24, 5, 2), stage(24, 48, 5, 2)) for _ in range(experts))
      self.heads = nn.ParameterList(nn.Parameter(torch.randn(48, classes)) for _ in range(experts))

    def forward(self, x):
      x = self.layer1(F.relu(self.bn(self.conv(x))))
      outs = []
      for expert, w in zip(self.experts, self.heads):
        f = F.normalize(expert(x).mean((2, 3)), dim=1)
        outs.append(30.0 * f @ F.normalize(w, dim=0))
      return torch.stack(outs)

  return {"resnet32": ResNet32, "ride3": Ride}


def bench_torch(name, batch, steps, classes, bf16):
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(os.cpu_count())
  model = torch_models()[name](classes)
  params = sum(p.numel() for p in model.parameters())
  opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
  x = torch.randn(batch, 3, 32, 32)
  y = torch.randint(0, classes, (batch,))

  def step():
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
      out = model(x)
      loss = (sum(torch.nn.functional.cross_entropy(o.float(), y) for o in out)
              if out.dim() == 3 else torch.nn.functional.cross_entropy(out.float(), y))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()

  model.train()
  for _ in range(3):
    step()
  start = time.perf_counter()
  for _ in range(steps):
    step()
  train_ips = batch * steps / (time.perf_counter() - start)
  model.eval()
  with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
    model(x)
    start = time.perf_counter()
    for _ in range(steps):
      model(x)
    eval_ips = batch * steps / (time.perf_counter() - start)
  return params, train_ips, eval_ips


# ---------------------------------------------------------------- ltjax side
def bench_ltjax(name, batch, steps, classes, bf16):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from ltjax import config as config_lib  # pylint: disable=g-import-not-at-top
  from ltjax import losses, models, optim, steps as steps_lib  # pylint: disable=g-import-not-at-top

  dtype = jnp.bfloat16 if bf16 else jnp.float32
  if name == "resnet32":
    model = models.build_model("cifar_resnet32", classes, dtype=dtype)
    objective = losses.objective(config_lib.default_config().loss, jnp.ones((classes,)))
  else:
    model = models.build_model("ride_cifar_resnet32", classes, num_experts=3, dtype=dtype)

    def objective(logits, features, labels, epoch, teacher_logits=None):
      del logits, epoch, teacher_logits
      per_expert = jax.vmap(lambda z: losses.cross_entropy(z, labels).mean())
      return jnp.sum(per_expert(features["expert_logits"]))
  oc = config_lib.default_config().optimizer
  schedule = optim.learning_rate_schedule(oc, 100, 10)
  tx = optim.build_optimizer(oc, schedule)
  state = jax.jit(lambda r: steps_lib.init_state(model, tx, r, (32, 32, 3)))(jax.random.key(0))
  params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(state.params))
  train_step = jax.jit(steps_lib.make_train_step(
      model, tx, objective, schedule, mean=(0.5,) * 3, std=(0.25,) * 3, steps_per_epoch=100),
                       donate_argnums=(0,))
  rng = np.random.RandomState(0)
  batch_arrays = jax.device_put({"image": rng.randint(0, 256, (batch, 32, 32, 3)).astype(np.uint8),
                                 "label": rng.randint(0, classes, (batch,)).astype(np.int32)})
  key = jax.random.key(1)
  start = time.perf_counter()
  state, m = train_step(state, batch_arrays, key)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - start
  for _ in range(2):
    state, m = train_step(state, batch_arrays, key)
  jax.block_until_ready(m)
  start = time.perf_counter()
  for _ in range(steps):
    state, m = train_step(state, batch_arrays, key)
  jax.block_until_ready(m)
  train_ips = batch * steps / (time.perf_counter() - start)
  forward = jax.jit(lambda s, x: model.apply({"params": s.params, "batch_stats": s.batch_stats},
                                             x.astype(dtype), train=False)[0])
  x = jnp.asarray(rng.randn(batch, 32, 32, 3), jnp.float32)
  jax.block_until_ready(forward(state, x))
  start = time.perf_counter()
  for _ in range(steps):
    out = forward(state, x)
  jax.block_until_ready(out)
  eval_ips = batch * steps / (time.perf_counter() - start)
  return params, train_ips, eval_ips, compile_s


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--classes", type=int, default=100)
  parser.add_argument("--models", default="resnet32,ride3")
  parser.add_argument("--bf16", action="store_true", help="bf16 compute (autocast in PyTorch)")
  args = parser.parse_args()
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"jax {jax.__version__} ({jax.devices()[0].platform}), torch {torch.__version__}; "
        f"batch {args.batch}, {args.steps} timed steps, {'bf16' if args.bf16 else 'fp32'}")
  rows = []
  for name in args.models.split(","):
    jp, jtrain, jeval, compile_s = bench_ltjax(name, args.batch, args.steps, args.classes,
                                               args.bf16)
    tp, ttrain, teval = bench_torch(name, args.batch, args.steps, args.classes, args.bf16)
    if jp != tp:
      raise SystemExit(f"{name}: parameter counts differ (ltjax {jp}, torch {tp})")
    rows.append((name, jp, jtrain, ttrain, jeval, teval, compile_s))
  print("| model | params | ltjax train img/s | torch train img/s | ratio | ltjax eval img/s "
        "| torch eval img/s | ratio | ltjax compile s |")
  print("|---|---|---|---|---|---|---|---|---|")
  for name, p, jt, tt, je, te, c in rows:
    print(f"| {name} | {p:,} | {jt:.1f} | {tt:.1f} | {jt / tt:.2f} | {je:.1f} | {te:.1f} | "
          f"{je / te:.2f} | {c:.1f} |")
  print("goal: ltjax / PyTorch >= 1.0 for the train step")


if __name__ == "__main__":
  main()
