"""`trainer.backend`: which Keras 3 backend runs the model (tensorflow, jax or torch).

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so the choice is made here,
before any kopt module imports Keras, and one process keeps one backend: a study's in-process
trials all share it. ``auto`` follows the user's ``KERAS_BACKEND`` (Keras' own convention) and
is TensorFlow when that is unset.

TensorFlow stays installed on every backend: kopt's input pipeline is tf.data (Keras feeds a
tf.data.Dataset to any backend as numpy batches), and TensorBoard logs through tf.summary.
What is TensorFlow-only falls back, each with its own reason:
- the fused batch norm (kopt.models.batchnorm) computes with Keras' own ops elsewhere;
- ``trainer.strategy`` (tf.distribute) is refused on another backend before the run starts;
- TensorFlow's op determinism only concerns tf.data there; JAX on a CPU is deterministic, and
  torch is made so with ``torch.use_deterministic_algorithms``.

No TensorFlow, JAX or torch is imported here: this runs while the config is checked.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from kopt.errors import KoptError, install_hint

BACKENDS = ("auto", "tensorflow", "jax", "torch")
_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def resolve(name: str | None) -> str:
    """The backend ``name`` stands for: ``auto`` (or nothing) is ``KERAS_BACKEND``, else tensorflow."""
    name = str(name or "auto")
    if name == "auto":
        name = os.environ.get("KERAS_BACKEND", "").strip() or "tensorflow"
    return name


def check(name: str | None, key: str = "trainer.backend") -> str:
    """Resolve ``name`` and check that its package is installed; one clear line if not."""
    backend = resolve(name)
    if backend not in _MODULES:
        source = f"{key}={name}" if str(name or "auto") != "auto" else f"KERAS_BACKEND={backend} (with {key}=auto)"
        raise KoptError(f"{source}: unknown backend; allowed: {', '.join(BACKENDS)}")
    if importlib.util.find_spec(_MODULES[backend]) is None:
        raise KoptError(f"{key}={backend} needs the {backend} package, which is not installed; {install_hint(backend)}")
    return backend


def select(name: str | None, key: str = "trainer.backend") -> str:
    """Make ``name`` the backend Keras loads with; returns the resolved name.

    Keras cannot switch backends once it is loaded, so a process that already loaded it with
    another backend (a sweep's jobs in one process, a study whose bases differ) is refused.
    """
    backend = check(name, key)
    loaded = sys.modules.get("keras")
    if loaded is not None:
        current = loaded.backend.backend()
        if current != backend:
            raise KoptError(
                f"{key}={backend}: this process already runs Keras on {current}, and Keras cannot "
                f"change backends once loaded; run jobs with different backends as separate "
                f"commands (or with hydra/launcher=joblib)"
            )
        return backend
    os.environ["KERAS_BACKEND"] = backend
    return backend


def make_deterministic(backend: str) -> None:
    """Op determinism beyond TensorFlow's (which :func:`kopt.runtime.setup_tensorflow` sets)."""
    if backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)


def versions(backend: str) -> dict[str, str]:
    """The backend's package version, for summary.json's ``versions``."""
    if backend == "jax":
        import jax

        return {"jax": jax.__version__}
    if backend == "torch":
        import torch

        return {"torch": torch.__version__}
    return {}


def study_backend(bases: dict) -> str:
    """The one backend of a study's trials (their base configs); a study that mixes them is refused:
    its trials share processes, and Keras keeps its first backend."""
    found = {resolve((base.get("trainer") or {}).get("backend")) for base in bases.values()}
    if len(found) > 1:
        raise KoptError(
            f"trainer.backend differs between the study's model choices ({', '.join(sorted(found))}); "
            "a study's trials share one backend: set trainer.backend once"
        )
    return found.pop() if found else resolve(None)
