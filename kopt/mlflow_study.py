"""MLflow without Keras at import time (a study's parent process may not have loaded TensorFlow):
the client of a ``logger=mlflow`` node, the study's parent run, the nesting of trial runs in it,
and models logged in MLflow's Keras flavour.

A study (``kopt tune … logger=mlflow``) is one parent run (tags ``kopt.study``, ``kopt.role=study``);
each trial's ``run_train`` runs inside :func:`study_trial`, so the :class:`kopt.training.tracking.MlflowRun`
it starts is nested in that parent (tags ``kopt.study``, ``kopt.trial``, ``kopt.role``). At the end,
:func:`finish_study` logs the best value, parameters and model on the parent.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from omegaconf import DictConfig

# while a study's trial (or retrain) runs: {"parent": run id, "study": name, "trial": number, "role": ...}
_TRIAL: ContextVar[dict | None] = ContextVar("kopt_mlflow_trial", default=None)


def current_trial() -> dict | None:
    """The study trial whose run_train is running in this context (see :func:`study_trial`), if any."""
    return _TRIAL.get()


def probe_tracking_server(uri: str, timeout: float = 5.0) -> None:
    """An http(s) tracking server that does not answer fails the run in seconds, in one line:
    MLflow's client would retry with back-off for minutes before giving up."""
    import socket
    from urllib.parse import urlsplit

    from kopt.errors import KoptError

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    try:
        socket.create_connection(
            (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)), timeout=timeout
        ).close()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise KoptError(
            f"logger.tracking_uri={uri}: no MLflow server answers there ({reason}); start one "
            "(mlflow server ...), or leave logger.tracking_uri unset for a local store"
        ) from None


def mlflow_client(node: DictConfig):
    """(MlflowClient, tracking URI) of a ``logger=mlflow`` node; no global active-run state."""
    from mlflow.tracking import MlflowClient

    uri = node.get("tracking_uri") or (Path.cwd() / "runs" / "mlflow").resolve().as_uri()
    probe_tracking_server(uri)
    if uri.startswith("file:") or "://" not in uri:  # a local file store, kopt's default: recent MLflow
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # wants an explicit opt-in for it
    return MlflowClient(tracking_uri=uri), uri


def experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


def without_nulls(values: dict) -> dict:
    """Tags without null values (MLflow would store the string 'None')."""
    return {k: str(v) for k, v in values.items() if v is not None}


def log_keras_models(uri: str, run_id: str, paths: list[Path]) -> None:
    """Each ``model*.keras`` of a run dir as an MLflow model in the Keras flavour
    (``mlflow.keras.log_model``), named after its file (``model``, ``model_fold0``, ...)."""
    from kopt.runtime import import_tensorflow

    tf = import_tensorflow()  # quietly, when this process has not loaded it yet (a study's parent)
    import keras
    import mlflow
    import mlflow.keras

    requirements = [f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}"]  # no slow inference
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(run_id=run_id):  # the flavour logs through the fluent API's active run
            for path in paths:
                model = keras.saving.load_model(path, safe_mode=True)
                mlflow.keras.log_model(
                    model, name=path.stem, pip_requirements=requirements, signature=_signature(model)
                )
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
    experiment = experiment_id(client, node.experiment)
    found = client.search_runs(
        [experiment],
        max_results=1,
        filter_string=(f"tags.`kopt.study` = '{study_name}' and tags.`kopt.role` = 'study'"),
    )
    if not found:
        tags = {"kopt.study": study_name, "kopt.role": "study"}
        return client.create_run(experiment, run_name=study_name, tags=tags).info.run_id
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


def interrupt_study(node: DictConfig | None, study_name: str) -> None:
    """The study's parent run when Ctrl-C or SIGTERM stops the study: KILLED, as the interrupted
    trial's own run (left RUNNING, MLflow's UI would show it running for ever). Running the same
    command again reopens it (:func:`study_run` with ``reopen``)."""
    if node is None or node.get("name") != "mlflow":
        return
    client, _ = mlflow_client(node)
    client.set_terminated(study_run(node, study_name), "KILLED")


def finish_study(node: DictConfig | None, summary: dict, best_dir: Path | None) -> None:
    """The study's parent run at the end: best value, best parameters (tags: they change as the
    study goes on), the retrain's test metrics, the best model in the Keras flavour."""
    if node is None or node.get("name") != "mlflow":
        return
    import mlflow

    client, uri = mlflow_client(node)
    run_id = study_run(node, summary["study_name"])
    counts = summary.get("counts") or {}
    values = {
        f"best/{summary['metric']}": summary.get("best_value"),
        "test_accuracy": summary.get("test_accuracy"),
        "test_loss": summary.get("test_loss"),
        **{f"trials/{k}": v for k, v in counts.items()},
    }
    step = sum(counts.values())
    metrics = [mlflow.entities.Metric(k, float(v), 0, step) for k, v in values.items() if isinstance(v, (int, float))]
    if metrics:
        client.log_batch(run_id, metrics=metrics)
    tags = without_nulls(
        {
            "kopt.best_trial": summary.get("best_trial"),
            "kopt.direction": summary.get("direction"),
            **{f"kopt.best.{k}": v for k, v in (summary.get("best_params") or {}).items()},
        }
    )
    client.log_batch(run_id, tags=[mlflow.entities.RunTag(k, v) for k, v in tags.items()])
    if best_dir is not None and node.get("log_model", True):
        log_keras_models(uri, run_id, sorted(Path(best_dir).glob("model*.keras")))
    client.set_terminated(run_id, "FINISHED" if summary.get("best_trial") is not None else "FAILED")
