"""`make test-fast`: a Python process started by a test stops as soon as it imports TensorFlow.

Test-fast mode (``KOPT_TEST_FAST=1``) puts this folder on ``PYTHONPATH``, so every Python
subprocess a test starts (``kopt`` itself, a worker, a ``python -c`` probe) imports it at
start-up. When such a process reaches for TensorFlow, Keras, JAX or torch, it signals the
test's own process (``KOPT_FAST_PID``), whose handler skips the test, and exits at once, so
that no test of the fast tier waits on a training it does not need.
"""

import os
import signal
import sys

HEAVY = {"tensorflow", "keras", "jax", "torch", "tf_keras"}


class _HeavyImportGuard:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in HEAVY:
            return None
        try:
            os.kill(int(os.environ["KOPT_FAST_PID"]), signal.SIGUSR1)
        except (KeyError, ValueError, OSError):
            pass
        os._exit(97)


if os.environ.get("KOPT_TEST_FAST") == "1":
    sys.meta_path.insert(0, _HeavyImportGuard())
