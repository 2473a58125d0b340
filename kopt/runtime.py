"""Import TensorFlow quietly and make it deterministic. Called once a run actually starts."""

from __future__ import annotations

import gc
import os
import sys
from contextlib import contextmanager

from kopt.quiet import quiet_tensorflow, stderr_to_buffer


def import_tensorflow(verbose: bool = False, backend: str | None = None, probe: bool = True):
    """Import TensorFlow (the input pipeline's) and Keras on ``backend`` (kopt.backend). ``probe``:
    list the devices too while stderr is held (TensorFlow does it once per process; False in a fork
    server, where a CUDA context made before a fork would be unusable after it)."""
    from kopt.backend import select

    select(backend)  # before Keras loads: it reads KERAS_BACKEND once
    quiet_tensorflow(verbose)
    first = "tensorflow" not in sys.modules
    if verbose:
        with no_jax_on_tensorflow():
            import keras
            import tensorflow as tf
    else:
        with stderr_to_buffer(), no_jax_on_tensorflow():
            import keras  # noqa: F401
            import tensorflow as tf

            if probe:  # the platform probe (cuInit on a machine without a GPU) logs here, not mid-run
                tf.config.list_physical_devices()
    if first:
        # TensorFlow's modules are ~400k objects that live as long as the process. Every full
        # collection (clear_session() runs one after each fold) would walk them all, ~0.2-0.5 s
        # each; frozen, the collections walk only the runs' own objects.
        gc.freeze()
    return tf


class _NoJaxOnTensorFlow:
    """An import finder that refuses ``jax`` to the two modules that import it for no use of kopt's.

    With JAX installed (the ``jax`` extra), ``import tensorflow`` and ``import keras`` on the
    TensorFlow backend imported it too: tf.lite's util for TFLite's conversion of JAX functions,
    Keras' Orbax checkpoint callback to patch ``jax.monitoring``. Neither is used by kopt, and JAX
    cost 0.5-1.0 of the ~6 CPU s a fresh process spends importing TensorFlow and Keras. Both take a
    failed import as "no JAX". Any other importer, Keras on the JAX backend first, gets JAX as always."""

    IMPORTERS = ("tensorflow.lite.python.util", "keras.src.callbacks.orbax_checkpoint")

    def find_spec(self, name, path=None, target=None):
        if name != "jax":
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
            frame = frame.f_back
        importer = frame.f_globals.get("__name__") if frame is not None else None
        if importer in self.IMPORTERS:
            raise ImportError(f"kopt leaves JAX out of {importer} on the TensorFlow backend", name=name)
        return None


@contextmanager
def no_jax_on_tensorflow():
    """While TensorFlow and Keras are imported: :class:`_NoJaxOnTensorFlow` first on ``sys.meta_path``."""
    if "jax" in sys.modules or os.environ.get("KERAS_BACKEND") == "jax":  # (Keras on JAX imports it first)
        yield
        return
    finder = _NoJaxOnTensorFlow()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _gradient_registry() -> dict | None:
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None


@contextmanager
def released_session():
    """On exit, free what the models built inside left behind: Keras' global state
    (clear_session, which also runs a garbage collection) and the gradient functions that
    tf.custom_gradient registered.

    Keras' TensorFlow optimizer all-reduces gradients through tf.distribute, which (in graph
    mode) registers a new ``CustomGradient-<n>`` function in TensorFlow's global gradient registry
    every time a train step is traced. The registry is never cleaned, and each entry holds the
    whole traced train graph: about 15 MiB per fold for a small CNN, kept forever (a leak in
    `kopt train -m` sweeps and in studies, which run many models in one process). Once the
    models are gone nothing can differentiate those graphs again, so the entries can go.
    """
    import keras

    before = set(_gradient_registry() or ())
    try:
        yield
    finally:
        keras.backend.clear_session()
        registry = _gradient_registry()
        for key in [k for k in set(registry or ()) - before if str(k).startswith("CustomGradient-")]:
            registry.pop(key, None)


def setup_tensorflow(
    seed: int,
    deterministic: bool = True,
    intra_threads: int = 0,
    inter_threads: int = 0,
    verbose: bool = False,
    backend: str | None = None,
):
    """Import and configure TensorFlow, and Keras on ``backend``; returns the TensorFlow module."""
    tf = import_tensorflow(verbose, backend)
    import keras

    from kopt.backend import make_deterministic

    if not verbose:
        tf.get_logger().setLevel("ERROR")
        try:
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:
            pass
    try:
        if intra_threads:
            tf.config.threading.set_intra_op_parallelism_threads(intra_threads)
        if inter_threads:
            tf.config.threading.set_inter_op_parallelism_threads(inter_threads)
    except RuntimeError:  # already initialised (in-process trials): keep the first setting
        pass
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
        make_deterministic(keras.backend.backend())
    return tf


def versions() -> dict[str, str]:
    import platform

    import keras
    import numpy
    import tensorflow as tf

    import kopt
    from kopt.backend import versions as backend_versions

    backend = keras.backend.backend()
    return {
        "python": platform.python_version(),
        "backend": backend,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        **backend_versions(backend),
        "numpy": numpy.__version__,
        "kopt": kopt.__version__,
    }
