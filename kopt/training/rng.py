"""Capture and restore every random-number state a training epoch can touch, as plain arrays.

Python's ``random``, numpy's global generator, Keras' global seed generator and TensorFlow's
eager op-seed generator and global ``tf.random.Generator``. Layer seed states (dropout) are
model variables and travel with the model; the tf.data shuffle order is derived from
(seed, fold, pass) instead (see kopt.data.pipeline.train_stream), so it needs no state at all.
"""

from __future__ import annotations

import random

import numpy as np


def _python_state(rng: random.Random) -> dict[str, np.ndarray]:
    version, internal, gauss = rng.getstate()
    return {
        "internal": np.asarray(internal, dtype=np.int64),
        "gauss": np.asarray([np.nan if gauss is None else gauss, version], dtype=np.float64),
    }


def _set_python_state(rng: random.Random, arrays: dict[str, np.ndarray]) -> None:
    gauss, version = arrays["gauss"].tolist()
    rng.setstate((int(version), tuple(int(v) for v in arrays["internal"]), None if np.isnan(gauss) else gauss))


def _tf_eager_rng():
    from tensorflow.python.eager import context

    return getattr(context.context(), "_rng", None)  # set by tf.random.set_seed


def _tf_global_generator():
    from tensorflow.python.ops import stateful_random_ops

    return getattr(stateful_random_ops, "global_generator", None)  # only if someone created it


def _keras_global_seed_generator(create: bool = False):
    from keras.src.backend.common import global_state

    gen = global_state.get_global_attribute("global_seed_generator")
    if gen is None and create:
        from keras.src.random.seed_generator import global_seed_generator

        gen = global_seed_generator()
    return gen


def capture() -> dict[str, np.ndarray]:
    """All RNG states as ``rng/<source>/<part>`` arrays (missing sources are left out)."""
    out = {f"python/{k}": v for k, v in _python_state(random._inst).items()}
    _, keys, pos, has_gauss, cached = np.random.get_state()
    out.update(
        {
            "numpy/keys": np.asarray(keys, dtype=np.uint32),
            "numpy/pos": np.asarray([pos, has_gauss], dtype=np.int64),
            "numpy/gauss": np.asarray([cached], dtype=np.float64),
        }
    )
    eager = _tf_eager_rng()
    if eager is not None:
        out.update({f"tf_eager/{k}": v for k, v in _python_state(eager).items()})
    gen = _tf_global_generator()
    if gen is not None:
        out["tf_global/state"] = gen.state.numpy()
    keras_gen = _keras_global_seed_generator()
    if keras_gen is not None:
        out["keras_global/state"] = np.asarray(keras_gen.state.numpy())
    return {f"rng/{k}": v for k, v in out.items()}


def restore(arrays: dict[str, np.ndarray]) -> None:
    """Put back the states :func:`capture` saved (``arrays`` may hold other keys too)."""

    def part(source: str) -> dict[str, np.ndarray]:
        prefix = f"rng/{source}/"
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    _set_python_state(random._inst, part("python"))
    numpy = part("numpy")
    pos, has_gauss = (int(v) for v in numpy["pos"])
    np.random.set_state(("MT19937", numpy["keys"], pos, has_gauss, float(numpy["gauss"][0])))
    eager, eager_state = _tf_eager_rng(), part("tf_eager")
    if eager is not None and eager_state:
        _set_python_state(eager, eager_state)
    gen, gen_state = _tf_global_generator(), part("tf_global")
    if gen is not None and gen_state:
        gen.state.assign(gen_state["state"])
    keras_state = part("keras_global")
    if keras_state:
        _keras_global_seed_generator(create=True).state.assign(keras_state["state"])
