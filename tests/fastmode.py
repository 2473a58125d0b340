"""`make test-fast` (``KOPT_TEST_FAST=1``): the edit loop's tier, every test that trains nothing
and imports no TensorFlow, found as the tests run rather than listed by hand.

- In the test's own process, importing TensorFlow, Keras, JAX or torch skips the test (or the
  test module, at collection).
- A Python subprocess that the test starts loads ``tests/fastguard/sitecustomize.py``: on the
  same imports it signals this process (SIGUSR1), whose handler skips the running test, and
  exits at once. So a test that trains through ``kopt train`` costs a second, not a training.
- Tests that start a service (PostgreSQL, a SLURM cluster) or build a wheel are slow without
  TensorFlow; they carry ``@pytest.mark.service`` and are deselected.

A new test needs no marking: it joins the fast tier exactly when it imports no TensorFlow.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

ON = os.environ.get("KOPT_TEST_FAST") == "1"
HEAVY = {"tensorflow", "keras", "jax", "torch", "tf_keras"}
REASON = "test-fast: needs TensorFlow"
_in_test = False


class _HeavyImportGuard:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in HEAVY:
            return None
        if os.getpid() != int(os.environ["KOPT_FAST_PID"]):
            # a child forked by the test (an in-process `kopt` run): tell the test, as a subprocess does
            os.kill(int(os.environ["KOPT_FAST_PID"]), signal.SIGUSR1)
            os._exit(97)
        raise pytest.skip.Exception(f"{REASON} (imports {name})", allow_module_level=True)


def _on_subprocess_import(signum, frame):
    if _in_test:
        raise pytest.skip.Exception(f"{REASON} (a subprocess imported it)")


def install() -> None:
    """Arm both guards; called once per test process when the fast tier runs."""
    guard_dir = str(Path(__file__).resolve().parent / "fastguard")
    os.environ["PYTHONPATH"] = guard_dir + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ["KOPT_FAST_PID"] = str(os.getpid())
    sys.meta_path.insert(0, _HeavyImportGuard())
    signal.signal(signal.SIGUSR1, _on_subprocess_import)


def set_in_test(value: bool) -> None:
    global _in_test
    _in_test = value
