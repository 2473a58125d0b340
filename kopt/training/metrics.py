"""The task's loss and the Keras metrics of ``trainer.metrics`` (names and directions: the table in
:mod:`kopt.schemas.metrics`), compiled into every fold's model and measured again on the test set.

A binary task trains the same 2-way softmax as two classes always did (its probabilities and
predictions.npz keep one column per class): its auc, f1, precision and recall read the second
column, the probability of class 1. Multilabel metrics read every label at the 0.5 threshold
(auc: all labels' scores together)."""

from __future__ import annotations

import keras

from kopt.errors import KoptError
from kopt.schemas.metrics import METRICS, check_task, run_metrics


def _positive_class(cls):
    """``cls`` measured on the probability of class 1 of a 2-way softmax, from integer labels (or
    one-hot ones under mixup)."""

    class PositiveClass(cls):
        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = keras.ops.convert_to_tensor(y_pred)
            y_true = keras.ops.convert_to_tensor(y_true)
            if len(y_true.shape) == 2 and y_true.shape[-1] == 2:
                y_true = y_true[:, 1]
            y_true = keras.ops.reshape(keras.ops.cast(y_true, y_pred.dtype), (-1, 1))
            return super().update_state(y_true, y_pred[:, 1:2], sample_weight)

    PositiveClass.__name__ = f"PositiveClass{cls.__name__}"
    return PositiveClass


def metric(name: str, task: str, soft: bool = False):
    """The Keras metric for ``name`` in a run of ``task`` (``soft``: one-hot targets, under mixup)."""
    m = keras.metrics
    if name == "accuracy":
        if task == "multilabel":
            return m.BinaryAccuracy(name=name)
        return m.CategoricalAccuracy(name=name) if soft else m.SparseCategoricalAccuracy(name=name)
    if name == "top5":
        return m.TopKCategoricalAccuracy(5, name=name) if soft else m.SparseTopKCategoricalAccuracy(5, name=name)
    cls = getattr(m, METRICS[name].keras)
    if task == "binary":
        cls = _positive_class(cls)
    if name == "f1":
        return cls(average="micro", threshold=0.5, name=name)
    return cls(name=name)


def compiled(tr, task: str, soft: bool = False) -> list:
    """The metrics to compile: ``trainer.metrics`` (null: the task's defaults), checked against the task.
    A multiclass or binary run's accuracy stays Keras' ``"accuracy"`` (sparse or categorical as the
    targets are), as before trainer.metrics existed."""
    names = tr.get("metrics")
    names = None if names is None else [str(n) for n in names]
    check_task(names, task, "trainer.metrics")
    out = []
    for name in run_metrics(names, task):
        out.append("accuracy" if name == "accuracy" and task != "multilabel" else metric(name, task, soft))
    return out


def task_loss(tr, task: str, soft: bool, classes: int):
    """The compiled loss: yours (``trainer.loss``), else the task's (mean squared error, binary
    cross-entropy per label, or the classes' cross-entropy with ``trainer.label_smoothing``)."""
    own = user_loss(tr)
    if own is not None:
        return own
    smoothing = float(tr.get("label_smoothing") or 0.0)
    if task in ("regression", "multilabel") and smoothing:
        raise KoptError(
            f"trainer.label_smoothing={smoothing} with dataset.task={task}: smoothing spreads a class's target "
            "over the classes; allowed: 0.0 here"
        )
    if task == "regression":
        return "mean_squared_error"
    if task == "multilabel":
        return "binary_crossentropy"
    from kopt.training.switches import loss

    return loss(tr, soft, classes)


def user_loss(tr):
    """``trainer.loss: {_target_: mylosses.focal, gamma: 2.0}``: the function or class it names,
    called with the other keys (a class: its instance; a function ``(y_true, y_pred, **keys)``:
    bound to them), resolved through kopt.targets like every ``_target_``; None without one."""
    entry = tr.get("loss")
    if entry is None:
        return None
    from omegaconf import OmegaConf

    from kopt.schemas.trainer import import_loss

    entry = OmegaConf.to_container(entry, resolve=True) if OmegaConf.is_config(entry) else dict(entry)
    target, key = entry["_target_"], "trainer.loss._target_"
    fn, kwargs = import_loss(entry, key)
    if isinstance(fn, type):
        made = fn(**kwargs)
        if not callable(made):
            raise KoptError(f"{key}={target}: made a {type(made).__name__}, not a loss (y_true, y_pred)")
        return made
    if not callable(fn):
        raise KoptError(f"{key}={target}: not a function or class; allowed: a loss (y_true, y_pred, **keys)")
    return BoundLoss(fn, kwargs, str(target).rsplit(".", 1)[-1])


class BoundLoss(keras.losses.Loss):
    """A loss function of yours with its keys (``fn(y_true, y_pred, **keys)``), averaged over the
    batch by Keras. Never saved: model.keras is an uncompiled copy (kopt.training.evaluate)."""

    def __init__(self, fn, keys: dict, name: str):
        super().__init__(name=name)
        self.fn, self.keys = fn, dict(keys)

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.keys)


def test_scores(probs, y, task: str, tr, soft_loss=None) -> dict:
    """``test_<name>`` of each metric but the classes' accuracy and loss (those: kopt.training.evaluate),
    measured by Keras' own classes on the predicted ``probs`` (values) of the test set."""
    names = tr.get("metrics")
    names = None if names is None else [str(n) for n in names]
    out = {}
    for name in run_metrics(names, task):
        if name == "accuracy" and task != "multilabel":
            continue
        m = metric(name, task)
        m.update_state(y, probs)
        out[f"test_{name}"] = float(keras.ops.convert_to_numpy(m.result()))
    return out
