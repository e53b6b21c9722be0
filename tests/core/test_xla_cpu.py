"""ltjax's XLA CPU defaults: added once, never over a user's value, switchable off."""

import os
import subprocess
import sys

from ltjax.core import xla_cpu

FLAG = xla_cpu.DEFAULT_FLAGS[0]
NAME = FLAG.split("=")[0]


def test_adds_defaults_after_existing_flags():
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
  assert xla_cpu.apply_defaults(env, (0, 10)) == list(xla_cpu.DEFAULT_FLAGS)
  assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=4 " + FLAG
  assert xla_cpu.apply_defaults(env, (0, 10)) == []  # idempotent
  assert env["XLA_FLAGS"].count(NAME) == 1


def test_user_value_wins():
  env = {"XLA_FLAGS": f"{NAME}=individual_convolution"}
  assert xla_cpu.apply_defaults(env, (0, 11)) == []
  assert env["XLA_FLAGS"] == f"{NAME}=individual_convolution"


def test_switched_off_by_environment():
  env = {"LTJAX_XLA_DEFAULTS": "0"}
  assert xla_cpu.apply_defaults(env, (0, 10)) == []
  assert "XLA_FLAGS" not in env


def test_old_jaxlib_gets_nothing():
  env = {}
  assert xla_cpu.apply_defaults(env, (0, 8)) == []
  assert env == {}


def test_import_sets_flags_before_the_backend_starts():
  code = ("import os, ltjax, jax, jax.numpy as jnp; "
          "assert float(jnp.ones(3).sum()) == 3.0; print(os.environ['XLA_FLAGS'])")
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "LTJAX_XLA_DEFAULTS")}
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       check=True, timeout=120)
  expected = FLAG if xla_cpu._jaxlib_version() >= xla_cpu._MIN_JAXLIB else ""
  assert out.stdout.strip().splitlines()[-1].strip() == expected
