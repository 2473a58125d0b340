"""`model.predict` with its TensorFlow function traced once, whatever the last batch holds.

Keras' predict function is a ``tf.function(reduce_retracing=True)`` called batch by batch: the
first batch traces it for that exact batch size, and a shorter last batch (any set whose size is
not a multiple of the batch size: a test set, a fold, a user's file) traces it a second time for
any size. That second trace costs as much as the first (0.1-0.3 s for a small model on 2 cores,
more for a deep one) in every fold of every run. Tracing it once up front for any batch size (the
element's shapes with an unknown first axis, as ``tf.data`` gives them) serves every batch with
one graph: the same operations, so the same predictions (tests/test_predicting.py).

Other backends, an eagerly running model, and inputs other than a dataset or one array are left
to Keras as they are.
"""

from __future__ import annotations

import numpy as np


def predict(model, x, batch_size: int | None = None) -> np.ndarray:
    """``model.predict(x, batch_size=batch_size, verbose=0)``, one trace on TensorFlow."""
    trace_for_any_batch(model, x)
    return model.predict(x, batch_size=batch_size, verbose=0)


def trace_for_any_batch(model, x) -> bool:
    """Trace ``model``'s predict function for elements like those of ``x`` (a ``tf.data.Dataset``
    or one array) with any batch size; whether it did."""
    import keras

    if keras.backend.backend() != "tensorflow" or model.run_eagerly:
        return False
    import tensorflow as tf

    # under a strategy's scope (tf.distribute) the batches come as distributed values: left to Keras
    if tf.distribute.has_strategy() or getattr(model, "_distribute_strategy", None) is not None:
        return False
    spec = element_spec(x)
    if spec is None:
        return False
    model.make_predict_function()  # (Keras' own, kept on the model: its predict reuses it)
    function = model.predict_function
    if not hasattr(function, "get_concrete_function"):  # not a tf.function: nothing is traced
        return False
    # one element per step of an execution, as Keras' predict hands them (a shorter last execution
    # of several steps is a list of another length: it traces, as it would have anyway)
    function.get_concrete_function([spec] * int(model.steps_per_execution or 1))
    return True


def element_spec(x):
    """The batches' ``tf.TensorSpec`` structure as Keras' predict passes them; None where unsure."""
    import keras
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        return x.element_spec
    # (several inputs, as a list or dict, Keras repacks in ways of its own: left to it)
    if not isinstance(x, np.ndarray) or x.ndim < 1:
        return None
    # Keras' array adapter casts a floating array to floatx and passes any other as it is
    dtype = keras.config.floatx() if np.issubdtype(x.dtype, np.floating) else x.dtype
    return tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(dtype))
