"""A fold's test set: the standalone predictor that model.keras holds (:func:`inference_copy`) and
the test metrics computed from its probabilities (:func:`test_metrics`)."""

from __future__ import annotations

import numpy as np


def test_metrics(
    probs: np.ndarray, y: np.ndarray, penalty: float = 0.0, task: str = "multiclass", tr=None, loss=None
) -> dict:
    """The test loss (plus any regulariser penalty) and metrics. Classes: cross-entropy (with Keras'
    epsilon clipping) and accuracy; a regression: mean squared error; multilabel: binary cross-entropy
    per label; ``loss`` (trainer.loss, yours): its value. ``trainer.metrics`` (``tr``): kopt.training.metrics."""
    out = {}
    if loss is not None:
        import keras

        target = y.reshape(-1, 1).astype("float32") if task == "regression" else y
        out["test_loss"] = float(keras.ops.convert_to_numpy(loss(target, probs))) + penalty
    if task == "regression":
        out.setdefault("test_loss", float(np.square(probs.reshape(-1) - y).mean() + penalty))
    elif task == "multilabel":
        p = np.clip(probs, 1e-7, 1 - 1e-7)
        out.setdefault("test_loss", float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean() + penalty))
    else:
        p = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
        out = {
            "test_accuracy": float((probs.argmax(axis=1) == y).mean()),
            "test_loss": float(-np.log(p).mean() + penalty),
            **out,
        }
    if tr is not None:
        from kopt.training.metrics import test_scores

        target = y.reshape(-1, 1) if task == "regression" else y
        out.update(test_scores(probs, target, task, tr))
    return out


def inference_copy(model, norm, fill=None):
    """The standalone predictor that model.keras holds: a table's imputation where ``fill`` is given
    (the fold's fill value of each input: a missing number, NaN, takes it), the training fold's
    normalisation as a ``Normalization`` layer (``norm``'s per-channel or per-feature mean and std),
    then the same layers without the optimizer. It takes raw inputs and loads in plain Keras with
    safe_mode: the imputation is two Keras ops (``where(x != x, fill, x)``), its values saved with
    the model, so each fold's model fills new rows with its own values, in every export format."""
    import keras

    from kopt.models.batchnorm import has_fused_batchnorm, plain_keras_copy

    core = keras.Model(model.inputs, model.outputs, name=model.name)  # never compiled: no optimizer to save
    if has_fused_batchnorm(core):  # fused batch norm -> Keras' own; the clone of an uncompiled view is
        core = plain_keras_copy(core)  # not compiled by Keras: no loss rebuilt, no second optimizer built
    raw = keras.Input(shape=model.input_shape[1:], name="raw_inputs")
    x = raw if fill is None else keras.ops.where(keras.ops.not_equal(raw, raw), np.asarray(fill, "float32"), raw)
    x = keras.layers.Normalization(
        mean=norm.mean, variance=np.square(norm.std.astype("float64")), name="normalization"
    )(x)
    return keras.Model(raw, core(x), name=model.name)
