"""The benchmark's ltjax side runs the trainer's step paths on the models it compares (the
timings themselves are figures for experiments/results, never asserted)."""

import importlib.util
import os

import numpy as np
from PIL import Image
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bench():
  return importlib.import_module("experiments.bench")


# The PyTorch models' parameter counts (CIFAR ResNet-32 with 100 classes is the well-known
# 0.47M; RIDE-3 with the reduced expert widths), which the benchmark checks equal at run time.
@pytest.mark.parametrize("name,params,data,per_dispatch", [
    ("resnet32", 470_004, "device", 2),
    ("ride3", 783_856, "host", 1),
])
def test_ltjax_side_runs_every_data_path(bench, name, params, data, per_dispatch):
  p, train_ips, eval_ips, compile_s = bench.bench_ltjax(name, 8, 2, 100, False, data=data,
                                                        per_dispatch=per_dispatch)
  assert p == params
  assert train_ips > 0 and eval_ips > 0 and compile_s > 0


def test_xla_buffer_plan_and_synthetic_jpegs(bench, tmp_path):
  plan = bench._xla_plan_mb("resnet32", 8, False)
  assert plan is None or plan > 1.8  # at least the fp32 parameters + momentum (2 x 1.9 MB)
  list_file = bench._write_jpegs(str(tmp_path), 3)
  lines = open(list_file).read().split()
  assert lines[1::2] == ["0", "1", "2"]
  with Image.open(tmp_path / lines[0]) as img:
    assert img.format == "JPEG" and 400 <= img.size[0] <= 500 and 300 <= img.size[1] <= 375
  assert np.isfinite(plan or 0.0)
