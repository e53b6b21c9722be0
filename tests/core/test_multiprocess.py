"""Two processes on this machine (jax.distributed, local coordinator, CPU devices) give the
same run as one process with the same devices and global batch; only process 0 writes."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.conftest import REPO

CONFIG = "configs/digits_lt/ce.py:smoke"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices: int, **extra) -> dict:
  env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
  env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             PYTHONPATH=REPO, **extra)
  return env


def _command(workdir):
  return [sys.executable, "-m", "ltjax.main", f"--config={CONFIG}", f"--workdir={workdir}"]


def test_two_processes_match_one_process(tmp_path):
  single, multi = tmp_path / "single", tmp_path / "multi"
  subprocess.run(_command(single), env=_env(2), cwd=REPO, check=True, timeout=600,
                 capture_output=True)
  port = _free_port()
  procs = [subprocess.Popen(_command(multi), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=_env(
                                1, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                                JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i)))
           for i in range(2)]
  logs = [p.communicate(timeout=600)[0].decode() for p in procs]
  for p, log in zip(procs, logs):
    assert p.returncode == 0, log[-3000:]
  assert "process 1 of 2" in logs[1] or "process 1/2" in logs[1]

  with open(single / "results.json") as f:
    one = json.load(f)
  with open(multi / "results.json") as f:
    two = json.load(f)
  assert two["num_processes"] == 2 and one["num_processes"] == 1
  assert two["num_devices"] == one["num_devices"] == 2
  assert two["selected_step"] == one["selected_step"]
  for split in ("val", "test"):
    assert two[split]["per_class"] == one[split]["per_class"]
    np.testing.assert_allclose(two[split]["nll"], one[split]["nll"], rtol=1e-5)
  # The cached logits are a function of the final parameters: equal parameters, equal logits.
  a = np.load(single / "features" / "test.npz")
  b = np.load(multi / "features" / "test.npz")
  np.testing.assert_allclose(b["logits"], a["logits"], rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(b["labels"], a["labels"])
  # Only process 0 writes: one metrics line per record (two writers would double them) and
  # one TensorBoard event file.
  with open(single / "metrics.jsonl") as f:
    lines_one = f.read().splitlines()
  with open(multi / "metrics.jsonl") as f:
    lines_two = f.read().splitlines()
  assert len(lines_two) == len(lines_one)
  assert len(os.listdir(multi / "tensorboard")) == len(os.listdir(single / "tensorboard")) == 1
