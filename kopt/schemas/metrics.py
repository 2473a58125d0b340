"""Tasks (``dataset.task``) and metrics (``trainer.metrics``): the one table of metric names.

Each metric name maps to a Keras metric class (built by :mod:`kopt.training.metrics`; named here,
so that validation loads no Keras), the direction in which it is better, and the tasks it is
valid for. A metric ``name`` is logged per epoch as ``name`` and ``val_name`` and per fold as
``test_name``; ``trainer.monitor``, ``tuner.metric`` and ``tuner.objectives`` take any ``val_``
name of the run's metrics, and ``loss``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kopt.errors import KoptError

TASKS = ("auto", "multiclass", "binary", "multilabel", "regression")
CLASSES = ("multiclass", "binary")  # one integer class per sample


@dataclass(frozen=True)
class Metric:
    keras: str  # the class in keras.metrics (the sparse or binary variant is picked per task)
    direction: str  # maximize | minimize
    tasks: tuple[str, ...]


METRICS = {
    "accuracy": Metric("Accuracy", "maximize", ("multiclass", "binary", "multilabel")),
    "auc": Metric("AUC", "maximize", ("binary", "multilabel")),
    "f1": Metric("F1Score", "maximize", ("binary", "multilabel")),
    "precision": Metric("Precision", "maximize", ("binary", "multilabel")),
    "recall": Metric("Recall", "maximize", ("binary", "multilabel")),
    "top5": Metric("TopKCategoricalAccuracy", "maximize", ("multiclass",)),
    "mae": Metric("MeanAbsoluteError", "minimize", ("regression",)),
    "rmse": Metric("RootMeanSquaredError", "minimize", ("regression",)),
    "r2": Metric("R2Score", "maximize", ("regression",)),
}
DEFAULTS = {
    "multiclass": ("accuracy",),
    "binary": ("accuracy", "auc"),
    "multilabel": ("accuracy",),
    "regression": ("mae", "rmse"),
}


# every per-fold score a run may record: loss and each metric, on validation and test data
FOLD_SCORES = (
    "val_accuracy",
    "val_loss",
    "test_accuracy",
    "test_loss",
    *(f"{side}_{n}" for n in METRICS if n != "accuracy" for side in ("val", "test")),
)


def direction(name: str) -> str:
    """``maximize`` or ``minimize`` for a logged name (``val_auc``, ``test_rmse``, ``val_loss``, ``auc``)."""
    base = name.removeprefix("val_").removeprefix("test_")
    if base.endswith("loss"):
        return "minimize"
    metric = METRICS.get(base)
    return metric.direction if metric is not None else "maximize"


def run_metrics(names, task: str) -> tuple[str, ...]:
    """The metrics a run of ``task`` logs: ``trainer.metrics`` (null: the task's defaults)."""
    if task == "auto":
        task = "multiclass"
    return tuple(DEFAULTS[task] if names is None else (str(n) for n in names))


def check_names(names, key: str = "trainer.metrics") -> None:
    """Every name of ``trainer.metrics`` is in the table (whatever the task)."""
    if names is None:
        return
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise KoptError(f"{key}={names!r}: must be a list such as [accuracy,auc]; allowed: {', '.join(METRICS)}")
    for name in names:
        if str(name) not in METRICS:
            raise KoptError(f"{key}: unknown metric {name!r}; allowed: {', '.join(METRICS)}")


def check_task(names, task: str, key: str = "trainer.metrics") -> None:
    """Every metric is valid for ``task`` (``auto``: checked once the labels tell the task)."""
    if names is None or task == "auto":
        return
    for name in names:
        metric = METRICS[str(name)]
        if task not in metric.tasks:
            valid = [n for n, m in METRICS.items() if task in m.tasks]
            raise KoptError(f"{key}: {name} is not a metric of dataset.task={task}; allowed: {', '.join(valid)}")


def monitors(names, task: str) -> tuple[str, ...]:
    """The validation names a run of ``task`` with ``trainer.metrics=names`` logs."""
    return ("val_loss", *(f"val_{n}" for n in run_metrics(names, task)))


AUTO = "auto"  # trainer.monitor, tuner.metric: the task's own (resolve_monitor)


def resolve_monitor(monitor: str, names, task: str) -> str:
    """``monitor`` (trainer.monitor, tuner.metric) as a run of ``task`` with ``trainer.metrics=names`` reads
    it: ``auto`` is val_accuracy where the run logs accuracy (every classification task's defaults), else
    val_loss (a regression, or metrics without accuracy), as Keras' own callbacks default to val_loss."""
    if str(monitor) != AUTO:
        return str(monitor)
    return "val_accuracy" if "accuracy" in run_metrics(names, task) else "val_loss"


def check_monitor(monitor: str, names, task: str, key: str) -> None:
    """``key`` (trainer.monitor, tuner.metric, ...) names a validation metric the run logs (``auto``: always)."""
    if str(monitor) == AUTO:
        return
    allowed = monitors(names, task) if task != "auto" else ("val_loss", *(f"val_{n}" for n in METRICS))
    if monitor not in allowed:
        shown = task if task != "auto" else "auto, read as multiclass until the labels are loaded"
        raise KoptError(
            f"{key}={monitor}: not logged by a run of dataset.task={shown} with these trainer.metrics; "
            f"allowed: {', '.join(allowed)} (add a metric to trainer.metrics)"
        )


def check_fits_dataset(cfg) -> None:
    """trainer.metrics and trainer.monitor against a dataset.task stated in the config (before
    TensorFlow loads; under ``auto`` the task is known, and checked, once the labels are loaded)."""
    tr, dataset = cfg.get("trainer"), cfg.get("dataset")
    if tr is None or dataset is None:
        return
    check_trainer(tr, config_task(dataset))


def config_task(dataset) -> str:
    """dataset.task as the config tells it: ``auto`` is multiclass for a dataset whose labels are
    always classes (its ``task`` fact), else known once the labels are loaded."""
    task = str(dataset.get("task", "auto"))
    if task == "auto":
        from kopt.schemas import fact

        task = fact("dataset", dataset.get("name"), "task", "auto")
    return task


def check_logged(cfg, metric: str, key: str) -> None:
    """``metric`` (tuner.metric, an objective) is logged by runs of ``cfg`` (a trial's base config)."""
    tr, dataset = cfg.get("trainer"), cfg.get("dataset")
    if not metric.startswith("val_") or tr is None or dataset is None:
        return
    names = tr.get("metrics")
    check_monitor(metric, None if names is None else [str(n) for n in names], config_task(dataset), key)


def check_trainer(tr, task: str) -> None:
    """trainer.metrics, trainer.monitor, early stopping's monitor and class_weight against ``task``."""
    if tr.get("class_weight") is not None and task in ("regression", "multilabel"):
        raise KoptError(
            f"trainer.class_weight={tr.get('class_weight')} with dataset.task={task}: it weights classes; "
            "allowed: null here"
        )
    names = tr.get("metrics")
    names = None if names is None else [str(n) for n in names]
    check_task(names, task, "trainer.metrics")
    check_monitor(str(tr.get("monitor")), names, task, "trainer.monitor")
    es = tr.get("early_stopping")
    if es is not None and es.get("enabled"):
        check_monitor(str(es.get("monitor")), names, task, "trainer.early_stopping.monitor")
