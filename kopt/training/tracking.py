"""Per-run tracking: TensorBoard events (:func:`tb_dir`), metrics.csv (logger=csv), MLflow
(logger=mlflow), and curves.png once the run ends.

TensorBoard names a run by the path of its event files' folder below ``--logdir``, so kopt puts
each run's events in a folder named readably (:func:`tb_label`): ``<run dir>/tb/<name>/`` for a
train run (its ``name``, else its dir's), ``<study>/tb/trial 3/`` and ``<study>/tb/retrain 3/``
for a study's trials and retrain (one study-level folder: ``tensorboard --logdir
runs/tune/<study>/tb`` lists ``trial 3``, ``trial 3/train``, ...). Keras' callback adds
``train/`` and ``validation/`` below it, per fold in a k-fold run (``fold 2/train``).

``run_train`` makes one :class:`Tracking`, adds its per-fold Keras callbacks through
``callbacks_factory`` and calls :meth:`Tracking.finish` whatever the outcome. Tracking never
fails a finished run: a plotting or logging error at the end is logged and reported once.

With MLflow, a run started inside :func:`kopt.mlflow_study.study_trial` (a study's trial or
retrain) is nested in the study's parent run. Models are logged in MLflow's Keras flavour; null
config values are left out, never logged as ``'None'``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
from omegaconf import DictConfig, OmegaConf

from kopt.csvtext import to_csv
from kopt.mlflow_study import current_trial, experiment_id, log_keras_models, mlflow_client, without_nulls
from kopt.optim import current_lr
from kopt.rundir import COMPLETED, FAILED, INTERRUPTED, METRICS, SUMMARY, atomic_write_text, read_metrics, read_summary
from kopt.training.curves import curves_title
from kopt.training.tbnames import TB_DIR, study_member, tb_dir, tb_label, tb_root  # noqa: F401  (re-exported)

log = logging.getLogger("kopt")
METRICS_CSV = "metrics.csv"
MLFLOW_STATUS = {COMPLETED: "FINISHED", FAILED: "FAILED", INTERRUPTED: "KILLED"}


class TensorBoardLogger(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback, per epoch: <log_dir>/train and <log_dir>/validation, tags
    epoch_loss, epoch_accuracy, ... and epoch_learning_rate; step = epoch, 1-based as in metrics.jsonl
    (Keras counts from 0). No graph, histograms or profiling.

    It replaced kopt's own writer (tf.summary per epoch, flushed each time): on a tiny MLP
    (5 alternating reps of 40 epochs, 2 busy cores) Keras' callback cost 51 ms per epoch over no
    callback, kopt's own 95 ms; the events of an interrupted fit are on disk either way."""

    def __init__(self, log_dir: Path):
        super().__init__(
            log_dir=str(log_dir), histogram_freq=0, write_graph=False, update_freq="epoch", profile_batch=0
        )

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class CsvMirror(keras.callbacks.Callback):
    """Keeps metrics.csv equal to metrics.jsonl (runs after MetricsLogger has appended the epoch)."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = Path(run_dir)

    def on_epoch_end(self, epoch, logs=None):
        write_metrics_csv(self.run_dir)


def write_metrics_csv(run_dir: Path) -> None:
    rows = read_metrics(run_dir)
    if rows:
        atomic_write_text(Path(run_dir) / METRICS_CSV, to_csv(rows))


class MlflowRun:
    """One MLflow run per kopt run, through MlflowClient (no global active-run state); inside
    :func:`kopt.mlflow_study.study_trial`, a child of the study's run."""

    def __init__(self, node: DictConfig, cfg: DictConfig, run_dir: Path):
        import mlflow

        self.client, uri = mlflow_client(node)
        trial = current_trial()
        self.artifacts = bool(node.get("log_model", True))
        self.log_model = self.artifacts and trial is None  # a study logs its best model itself
        experiment = experiment_id(self.client, node.experiment)
        tags = without_nulls(
            {
                "kopt.run_dir": str(run_dir),
                **{
                    f"kopt.{g}": cfg[g].get("name")
                    for g in ("model", "dataset", "split", "regularizer", "optimizer")
                    if cfg.get(g) is not None
                },
            }
        )
        name = Path(run_dir).name
        if trial is not None:
            tags.update(
                without_nulls(
                    {
                        "mlflow.parentRunId": trial["parent"],
                        "kopt.study": trial["study"],
                        "kopt.trial": trial["trial"],
                        "kopt.role": trial["role"],
                    }
                )
            )
            name = f"{trial['role']} {trial['trial']}"
        self.run_id = self.client.create_run(experiment, run_name=name, tags=tags).info.run_id
        self.uri, self.mlflow = uri, mlflow
        params = flatten(OmegaConf.to_container(cfg, resolve=True))
        entities = mlflow.entities
        items = [entities.Param(k, str(v)[:500]) for k, v in params.items() if v is not None]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def epoch(self, fold: int, n_folds: int, epoch: int, logs: dict, lr: float) -> None:
        prefix = f"fold{fold}/" if n_folds > 1 else ""
        values = {**{k: float(v) for k, v in logs.items() if k != "learning_rate" and v is not None}, "lr": lr}
        metrics = [self.mlflow.entities.Metric(prefix + k, v, 0, epoch + 1) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, run_dir: Path, summary: dict) -> None:
        final = {k: float(v) for k, v in (summary.get("metrics") or {}).items() if isinstance(v, (int, float))}
        if final:
            self.client.log_batch(
                self.run_id, metrics=[self.mlflow.entities.Metric(f"final/{k}", v, 0, 0) for k, v in final.items()]
            )
        if self.log_model and summary.get("status") == COMPLETED:
            log_keras_models(self.uri, self.run_id, sorted(Path(run_dir).glob("model*.keras")))
        for name in ("curves.png", SUMMARY):
            if self.artifacts and (Path(run_dir) / name).exists():
                self.client.log_artifact(self.run_id, str(Path(run_dir) / name))
        self.client.set_terminated(self.run_id, MLFLOW_STATUS.get(summary.get("status"), "FAILED"))


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
    """``plots=False`` (a tune trial): no curves.png when the run ends; the study draws its trials'
    curves once, when it ends (kopt.tune.results.curves)."""

    def __init__(self, cfg: DictConfig, run_dir: Path, plots: bool = True):
        self.cfg, self.run_dir, self.plots = cfg, Path(run_dir), plots
        self.node = cfg.get("logger") or OmegaConf.create({"name": "csv", "tensorboard": True})
        self.mlflow: MlflowRun | None = None

    def callbacks(self, fold: int, n_folds: int) -> list:
        out = []
        if self.node.get("tensorboard", True):
            out.append(TensorBoardLogger(tb_dir(self.cfg, self.run_dir, fold, n_folds)))
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
        try:
            if (self.run_dir / METRICS).exists():
                if self.plots:
                    from kopt.training.curves import plot_curves  # matplotlib: only once the run has ended

                    plot_curves(self.run_dir, title=curves_title(self.cfg, self.run_dir))
                if self.node.name == "csv":
                    write_metrics_csv(self.run_dir)
            if self.node.get("tensorboard", True) and (self.run_dir / SUMMARY).exists():
                write_hparams(self.cfg, self.run_dir, read_summary(self.run_dir).to_dict())
            if self.mlflow is not None:
                self.mlflow.finish(self.run_dir, read_summary(self.run_dir).to_dict())
        except Exception as exc:  # tracking must not turn a finished run into a failed one
            log.warning("tracking after the run failed: %s: %s", type(exc).__name__, exc)
            print(f"kopt: warning: tracking after the run failed: {type(exc).__name__}: {exc}")


def hparams_of(cfg: DictConfig, run_dir: Path) -> dict:
    """What the run chose: its group choices (``model: mlp``) and the keys it overrode, with their
    composed values (``regularizer.dropout: 0.25``; a study's trial: its sampled parameters)."""
    from kopt.rundir import load_run

    out: dict = {g: str(cfg[g].get("name")) for g in ("model", "dataset", "split", "regularizer", "optimizer")}
    out = {k: v for k, v in out.items() if cfg.get(k) is not None}
    try:
        overrides = load_run(run_dir, strict=False).overrides
    except (OSError, ValueError):
        overrides = []
    for text in overrides:
        key = text.partition("=")[0].lstrip("+")
        if not key or key.startswith(("~", "hydra")) or "=" not in text:
            continue
        value = OmegaConf.select(cfg, key, default=None)
        if isinstance(value, DictConfig):
            value = value.get("name")
        if value is not None:
            out[key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return out


def write_hparams(cfg: DictConfig, run_dir: Path, summary: dict) -> None:
    """TensorBoard's HParams data in the run's folder (:func:`tb_root`, the session, named by that
    folder's path: no group name, so that runs of the same label in two studies stay apart) with
    the final metrics beside it as ``final/<metric>`` scalars, so the HParams tab lists the run's
    parameters against its results; the epochs are in its train/ and validation/ subfolders."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    final = {k: float(v) for k, v in (summary.get("metrics") or {}).items() if isinstance(v, (int, float))}
    writer = tf.summary.create_file_writer(str(tb_root(cfg, run_dir)))
    with writer.as_default():
        hp.hparams(hparams_of(cfg, run_dir), trial_id="")  # "": the session is named by its folder
        for key, value in final.items():
            tf.summary.scalar(f"final/{key}", value, step=0)
    writer.close()
