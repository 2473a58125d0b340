"""The smoothed cross-entropy on integer labels (``trainer.label_smoothing``), as a Keras loss
that serializes: Keras rebuilds a compiled model's loss from its config wherever it copies the
model (``keras.models.clone_model``, which makes the plain-Keras copy of a batch-norm model), so
a loss that is not registered fails there. The saved ``model.keras`` is never compiled, so it
loads without kopt all the same."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kopt")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against targets that put ``1 - label_smoothing`` on the true
    class and spread ``label_smoothing`` over all ``classes`` (Keras' sparse loss has no smoothing)."""

    def __init__(self, classes: int, label_smoothing: float, name="sparse_smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.classes, self.label_smoothing = int(classes), float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        return keras.losses.categorical_crossentropy(
            keras.ops.one_hot(labels, self.classes, dtype=y_pred.dtype), y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "classes": self.classes, "label_smoothing": self.label_smoothing}


PLAIN, SMOOTHED = "kopt_plain_xent", "kopt_smoothed_xent"  # metric names, taken out of the logs again


def smoothing_metrics(classes: int, label_smoothing: float, soft: bool) -> list:
    """The plain and the smoothed cross-entropy as compiled metrics: :class:`UnsmoothedValLoss` makes
    ``val_loss`` the plain one from them (Keras' ``val_loss`` is the compiled, smoothed loss)."""
    if soft:
        smoothed = keras.metrics.CategoricalCrossentropy(name=SMOOTHED, label_smoothing=label_smoothing)
        return [keras.metrics.CategoricalCrossentropy(name=PLAIN), smoothed]
    per_example = SparseSmoothedCrossentropy(classes, label_smoothing, reduction=None)
    return [
        keras.metrics.SparseCategoricalCrossentropy(name=PLAIN),
        keras.metrics.MeanMetricWrapper(per_example, SMOOTHED),
    ]


class UnsmoothedValLoss(keras.callbacks.Callback):
    """``val_loss`` without label smoothing: Keras' value (smoothed cross-entropy plus any penalty of
    the model's ``losses``) less the smoothed cross-entropy plus the plain one; the helper metrics
    leave the logs. Put it first among the callbacks: the ones after it see the changed logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            plain, smoothed = logs.pop(prefix + PLAIN, None), logs.pop(prefix + SMOOTHED, None)
            if prefix and plain is not None and smoothed is not None and "val_loss" in logs:
                logs["val_loss"] = float(logs["val_loss"]) - float(smoothed) + float(plain)
