"""`make test-fast`: a Python process started by a test stops as soon as it imports TensorFlow.

Test-fast mode (``KOPT_TEST_FAST=1``) puts this folder on ``PYTHONPATH``, so every Python
subprocess a test starts (``kopt`` itself, a worker, a ``python -c`` probe) imports it at
start-up. When such a process imports TensorFlow, Keras, JAX or torch, it signals the
test's own process (``KOPT_FAST_PID``), whose handler skips the test, and exits at once, so
that no test of the fast tier waits on a training it does not need.
"""

import os
import signal
import sys

HEAVY = {"tensorflow", "keras", "jax", "torch", "tf_keras"}


class _HeavyImportGuard:
    """Finds TensorFlow & co. as the other finders do, with a loader that stops the process: a mere
    ``importlib.util.find_spec`` (kopt's check that a backend is installed) goes on."""

    kopt_fast_guard = True  # each guard skips the other (a worker of xdist has both)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in HEAVY:
            return None
        for finder in sys.meta_path:
            if getattr(finder, "kopt_fast_guard", False) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                spec.loader = _StopLoader()
                return spec
        return None


class _StopLoader:
    def create_module(self, spec):
        try:
            os.kill(int(os.environ["KOPT_FAST_PID"]), signal.SIGUSR1)
        except (KeyError, ValueError, OSError):
            pass
        os._exit(97)

    def exec_module(self, module):  # never reached: create_module stops first
        raise ImportError(module.__name__)


if os.environ.get("KOPT_TEST_FAST") == "1":
    sys.meta_path.insert(0, _HeavyImportGuard())
