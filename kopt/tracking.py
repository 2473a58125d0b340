"""Per-run tracking: TensorBoard events in tb/, metrics.csv (logger=csv), MLflow (logger=mlflow),
and curves.png once the run ends.

``run_train`` makes one :class:`Tracking`, adds its per-fold Keras callbacks through
``callbacks_factory`` and calls :meth:`Tracking.finish` whatever the outcome. Tracking never
fails a finished run: a plotting or logging error at the end is logged and reported once.

With MLflow, a study is one parent run (tags ``kopt.study``, ``kopt.role=study``) and each trial
one run nested in it (tags ``kopt.study``, ``kopt.trial``): the trial runs ``run_train`` inside
:func:`study_trial`, which tells the :class:`MlflowRun` it starts whose child it is. Models are
logged in MLflow's Keras flavour; null config values are left out, never logged as ``'None'``.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import keras
from omegaconf import DictConfig, OmegaConf

from kopt.optim import current_lr
from kopt.rundir import METRICS, SUMMARY, atomic_write_text, read_json, read_metrics

log = logging.getLogger("kopt")
TB_DIR, METRICS_CSV = "tb", "metrics.csv"
MLFLOW_STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
# while a study's trial runs (study_trial): {"parent": run id, "study": name, "trial": number}
_TRIAL: ContextVar[dict | None] = ContextVar("kopt_mlflow_trial", default=None)


class TensorBoardLogger(keras.callbacks.Callback):
    """Per-epoch scalars in TensorBoard's layout: tb/fold<k>/train and tb/fold<k>/validation, tags
    epoch_loss, epoch_accuracy, ... and epoch_learning_rate; step = epoch (1-based, as metrics.jsonl)."""

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.writers: dict = {}

    def _writer(self, part: str):
        import tensorflow as tf

        if part not in self.writers:
            self.writers[part] = tf.summary.create_file_writer(str(self.log_dir / part))
        return self.writers[part]

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        scalars = {("validation", k[4:]) if k.startswith("val_") else ("train", k): float(v)
                   for k, v in (logs or {}).items() if k != "learning_rate"}
        scalars[("train", "learning_rate")] = current_lr(self.model.optimizer)
        for (part, name), value in scalars.items():
            with self._writer(part).as_default():
                tf.summary.scalar(f"epoch_{name}", value, step=epoch + 1)
        for writer in self.writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


class CsvMirror(keras.callbacks.Callback):
    """Keeps metrics.csv equal to metrics.jsonl (runs after MetricsLogger has appended the epoch)."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = Path(run_dir)

    def on_epoch_end(self, epoch, logs=None):
        write_metrics_csv(self.run_dir)


def write_metrics_csv(run_dir: Path) -> None:
    from kopt.report.table import to_csv

    rows = read_metrics(run_dir)
    if rows:
        atomic_write_text(Path(run_dir) / METRICS_CSV, to_csv(rows))


def mlflow_client(node: DictConfig):
    """(MlflowClient, tracking URI) of a ``logger=mlflow`` node; no global active-run state."""
    from mlflow.tracking import MlflowClient

    uri = node.get("tracking_uri") or (Path.cwd() / "runs" / "mlflow").resolve().as_uri()
    if uri.startswith("file:") or "://" not in uri:  # a local file store, kopt's default: recent MLflow
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # wants an explicit opt-in for it
    return MlflowClient(tracking_uri=uri), uri


def _experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


def _tags(values: dict) -> dict:
    """Tags without null values (MLflow would store the string 'None')."""
    return {k: str(v) for k, v in values.items() if v is not None}


class MlflowRun:
    """One MLflow run per kopt run, through MlflowClient (no global active-run state); inside
    :func:`study_trial`, a child of the study's run."""

    def __init__(self, node: DictConfig, cfg: DictConfig, run_dir: Path):
        import mlflow

        self.client, uri = mlflow_client(node)
        trial = _TRIAL.get()
        self.artifacts = bool(node.get("log_model", True))
        self.log_model = self.artifacts and trial is None  # a study logs its best model itself
        experiment_id = _experiment_id(self.client, node.experiment)
        tags = _tags({"kopt.run_dir": str(run_dir), **{f"kopt.{g}": cfg[g].get("name") for g in
                                                       ("model", "dataset", "split", "regularizer", "optimizer")
                                                       if cfg.get(g) is not None}})
        name = Path(run_dir).name
        if trial is not None:
            tags.update(_tags({"mlflow.parentRunId": trial["parent"], "kopt.study": trial["study"],
                               "kopt.trial": trial["trial"], "kopt.role": trial["role"]}))
            name = f"{trial['role']} {trial['trial']}"
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        self.uri, self.mlflow = uri, mlflow
        params = flatten(OmegaConf.to_container(cfg, resolve=True))
        entities = mlflow.entities
        items = [entities.Param(k, str(v)[:500]) for k, v in params.items() if v is not None]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def epoch(self, fold: int, n_folds: int, epoch: int, logs: dict, lr: float) -> None:
        prefix = f"fold{fold}/" if n_folds > 1 else ""
        values = {**{k: float(v) for k, v in logs.items() if k != "learning_rate" and v is not None}, "lr": lr}
        metrics = [self.mlflow.entities.Metric(prefix + k, v, 0, epoch + 1) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, run_dir: Path, summary: dict) -> None:
        final = {k: float(v) for k, v in (summary.get("metrics") or {}).items() if isinstance(v, (int, float))}
        if final:
            self.client.log_batch(self.run_id, metrics=[self.mlflow.entities.Metric(f"final/{k}", v, 0, 0)
                                                        for k, v in final.items()])
        if self.log_model and summary.get("status") == "completed":
            log_keras_models(self.uri, self.run_id, sorted(Path(run_dir).glob("model*.keras")))
        for name in ("curves.png", SUMMARY):
            if self.artifacts and (Path(run_dir) / name).exists():
                self.client.log_artifact(self.run_id, str(Path(run_dir) / name))
        self.client.set_terminated(self.run_id, MLFLOW_STATUS.get(summary.get("status"), "FAILED"))


def log_keras_models(uri: str, run_id: str, paths: list[Path]) -> None:
    """Each ``model*.keras`` of a run dir as an MLflow model in the Keras flavour
    (``mlflow.keras.log_model``), named after its file (``model``, ``model_fold0``, ...)."""
    import mlflow
    import mlflow.keras
    import tensorflow as tf

    requirements = [f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}"]  # no slow inference
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(run_id=run_id):  # the flavour logs through the fluent API's active run
            for path in paths:
                model = keras.saving.load_model(path, safe_mode=True)
                mlflow.keras.log_model(model, name=path.stem, pip_requirements=requirements,
                                       signature=_signature(model))
    finally:
        mlflow.set_tracking_uri(previous)


def _signature(model):
    """The model's float32 input and output tensors (batch dimension free) as an MLflow signature."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    def spec(shape) -> Schema:
        return Schema([TensorSpec(np.dtype("float32"), tuple(-1 if d is None else int(d) for d in shape))])

    return ModelSignature(inputs=spec(model.input_shape), outputs=spec(model.output_shape))


def study_run(node: DictConfig, study_name: str, reopen: bool = False) -> str:
    """The id of the study's parent run, created on first use (one per experiment and study name);
    ``reopen`` marks a finished one running again (a resumed study)."""
    client, _ = mlflow_client(node)
    experiment_id = _experiment_id(client, node.experiment)
    found = client.search_runs([experiment_id], max_results=1, filter_string=(
        f"tags.`kopt.study` = '{study_name}' and tags.`kopt.role` = 'study'"))
    if not found:
        tags = {"kopt.study": study_name, "kopt.role": "study"}
        return client.create_run(experiment_id, run_name=study_name, tags=tags).info.run_id
    run = found[0].info
    if reopen and run.status != "RUNNING":
        client.update_run(run.run_id, status="RUNNING")
    return run.run_id


@contextmanager
def study_trial(node: DictConfig | None, study_name: str, trial: int, role: str = "trial"):
    """Around one trial's ``run_train`` (or the best trial's retrain, ``role="retrain"``): with
    ``logger=mlflow``, its run is nested in the study's."""
    if node is None or node.get("name") != "mlflow":
        yield
        return
    token = _TRIAL.set({"parent": study_run(node, study_name), "study": study_name, "trial": trial, "role": role})
    try:
        yield
    finally:
        _TRIAL.reset(token)


def finish_study(node: DictConfig | None, summary: dict, best_dir: Path | None) -> None:
    """The study's parent run at the end: best value, best parameters (tags: they change as the
    study goes on), the retrain's test metrics, the best model in the Keras flavour."""
    if node is None or node.get("name") != "mlflow":
        return
    import mlflow

    client, uri = mlflow_client(node)
    run_id = study_run(node, summary["study_name"])
    counts = summary.get("counts") or {}
    values = {f"best/{summary['metric']}": summary.get("best_value"), "test_accuracy": summary.get("test_accuracy"),
              "test_loss": summary.get("test_loss"), **{f"trials/{k}": v for k, v in counts.items()}}
    step = sum(counts.values())
    metrics = [mlflow.entities.Metric(k, float(v), 0, step) for k, v in values.items() if isinstance(v, (int, float))]
    if metrics:
        client.log_batch(run_id, metrics=metrics)
    tags = _tags({"kopt.best_trial": summary.get("best_trial"), "kopt.direction": summary.get("direction"),
                  **{f"kopt.best.{k}": v for k, v in (summary.get("best_params") or {}).items()}})
    client.log_batch(run_id, tags=[mlflow.entities.RunTag(k, v) for k, v in tags.items()])
    if best_dir is not None and node.get("log_model", True):
        log_keras_models(uri, run_id, sorted(Path(best_dir).glob("model*.keras")))
    client.set_terminated(run_id, "FINISHED" if summary.get("best_trial") is not None else "FAILED")


class MlflowEpochs(keras.callbacks.Callback):
    def __init__(self, run: MlflowRun, fold: int, n_folds: int):
        super().__init__()
        self.run, self.fold, self.n_folds = run, fold, n_folds

    def on_epoch_end(self, epoch, logs=None):
        self.run.epoch(self.fold, self.n_folds, epoch, logs or {}, current_lr(self.model.optimizer))


def flatten(node, prefix: str = "") -> dict:
    """{"a.b": value} of a nested dict (None values kept: callers leave them out)."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


class Tracking:
    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.node = cfg.get("logger") or OmegaConf.create({"name": "csv", "tensorboard": True})
        self.mlflow: MlflowRun | None = None

    def callbacks(self, fold: int, n_folds: int) -> list:
        out = []
        if self.node.get("tensorboard", True):
            out.append(TensorBoardLogger(self.run_dir / TB_DIR / f"fold{fold}"))
        if self.node.name == "csv":
            out.append(CsvMirror(self.run_dir))
        if self.node.name == "mlflow":
            if self.mlflow is None:  # started with the first fold: an unreachable server fails the run
                self.mlflow = MlflowRun(self.node, self.cfg, self.run_dir)
            out.append(MlflowEpochs(self.mlflow, fold, n_folds))
        return out

    def wrap(self, factory):
        """A callbacks_factory giving these callbacks after those of ``factory`` (if any)."""
        def combined(fold: int, n_folds: int) -> list:
            return (factory(fold, n_folds) if factory else []) + self.callbacks(fold, n_folds)

        return combined

    def finish(self) -> None:
        """After the run (completed, failed or interrupted): curves.png, metrics.csv, MLflow end."""
        from kopt.report.plots import plot_curves

        try:
            if (self.run_dir / METRICS).exists():
                plot_curves(self.run_dir, title=curves_title(self.cfg, self.run_dir))
                if self.node.name == "csv":
                    write_metrics_csv(self.run_dir)
            if self.mlflow is not None:
                self.mlflow.finish(self.run_dir, read_json(self.run_dir / SUMMARY))
        except Exception as exc:  # tracking must not turn a finished run into a failed one
            log.warning("tracking after the run failed: %s: %s", type(exc).__name__, exc)
            print(f"kopt: warning: tracking after the run failed: {type(exc).__name__}: {exc}")


def curves_title(cfg: DictConfig, run_dir: Path) -> str:
    choices = "  ".join(f"{g}={cfg[g].get('name')}" for g in ("model", "regularizer", "optimizer", "dataset", "split")
                        if cfg.get(g) is not None)
    path = Path(run_dir)
    name = f"{path.parent.name}/{path.name}" if path.name.isdigit() else path.name  # sweep job: <sweep>/<n>
    return f"{name}  ·  {choices}  ·  seed={cfg.get('seed')}"
