"""One training run: data -> splits -> per fold (pipeline, model, fit, best epoch, test) -> run dir."""

from __future__ import annotations

import gc
import math
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
from omegaconf import DictConfig, OmegaConf

from kopt.errors import Interrupted, KoptError, RunFailed
from kopt.rundir import (METRICS, PREDICTIONS, SPLITS, SUMMARY, MetricsWriter, atomic_save_model, atomic_savez,
                         atomic_write_json, atomic_write_text)

CallbackFactory = Callable[[int, int], list]  # (fold, n_folds) -> extra Keras callbacks
GROUPS = ("model", "dataset", "split", "regularizer", "augment", "optimizer")


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM raises Interrupted(15) in the main thread, so it is handled like Ctrl-C."""
    def handler(signum, frame):
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class FoldResult:
    fold: int
    best_epoch: int
    epochs_run: int
    metrics: dict
    probs: np.ndarray
    duration_s: float

    def row(self) -> dict:
        return {"fold": self.fold, "best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
                **self.metrics, "duration_s": self.duration_s}


@dataclass
class RunState:
    cfg: DictConfig
    run_dir: Path
    started: float = field(default_factory=time.time)
    folds: list[FoldResult] = field(default_factory=list)
    params: int = 0
    extra: dict = field(default_factory=dict)
    quiet: bool = False  # no terminal output (kopt tune draws its own)

    def choices(self) -> dict[str, str]:
        return {g: str(self.cfg[g].get("name")) for g in GROUPS if g in self.cfg and self.cfg[g] is not None}

    def summary(self, status: str, error: str | None = None) -> dict:
        rows = [f.row() for f in self.folds]
        metrics = {}
        for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss"):
            values = [r[key] for r in rows if r.get(key) is not None]
            if values:
                metrics[key] = float(np.mean(values))
                if len(values) > 1:
                    metrics[key + "_std"] = float(np.std(values, ddof=1))
        from kopt.runtime import versions

        out = {
            "status": status,
            "metrics": metrics,
            "folds": rows,
            "params": self.params,
            "duration_s": time.time() - self.started,
            "seed": int(self.cfg.seed),
            "choices": self.choices(),
            "run_dir": str(self.run_dir),
            "started_at": datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(),
            "versions": versions(),
            **self.extra,
        }
        if error:
            out["error"] = error
        return out

    def write(self, status: str, error: str | None = None) -> dict:
        summary = self.summary(status, error)
        atomic_write_json(self.run_dir / SUMMARY, summary)
        return summary


def test_metrics(probs: np.ndarray, y: np.ndarray, penalty: float = 0.0) -> dict:
    """Cross-entropy (with Keras' epsilon clipping, plus any regulariser penalty) and accuracy."""
    p = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    return {"test_accuracy": float((probs.argmax(axis=1) == y).mean()), "test_loss": float(-np.log(p).mean() + penalty)}


def _inference_copy(model):
    """The same layers without the optimizer, so model.keras loads in plain Keras with safe_mode."""
    import keras

    return keras.Model(model.inputs, model.outputs, name=model.name)


def train_fold(state: RunState, data, fold: int, n_folds: int, train_idx, val_idx, test_idx,
               writer: MetricsWriter, callbacks_factory: CallbackFactory | None) -> FoldResult:
    import keras

    from kopt.data.pipeline import Normalizer, make_dataset
    from kopt.models import build_model
    from kopt.optim import build_optimizer
    from kopt.training import distribute
    from kopt.training.callbacks import BestEpoch, MetricsLogger, Progress

    cfg, t0 = state.cfg, time.time()
    tr, seed = cfg.trainer, int(cfg.seed)
    norm = Normalizer.fit(data.x[train_idx])
    x_tr, x_va, x_te = norm(data.x[train_idx]), norm(data.x[val_idx]), norm(data.x[test_idx])
    y_tr, y_va, y_te = data.y[train_idx], data.y[val_idx], data.y[test_idx]

    keras.utils.set_random_seed(seed * 1000 + fold)
    augment = None
    if cfg.get("augment") is not None and cfg.augment.name != "none":
        from kopt.data.augment import build_augment  # provided by the augment group

        augment = build_augment(cfg.augment, data, seed * 1000 + fold)
    soft = getattr(augment, "soft_labels", False)  # mixup/cutmix mix labels: one-hot targets to fit and validate
    if soft:  # (test metrics come from the predicted probabilities and the integer labels)
        y_tr, y_va = (np.eye(data.num_classes, dtype="float32")[y] for y in (y_tr, y_va))
    ds_tr = distribute.shard(make_dataset(x_tr, y_tr, tr.batch_size, training=True, seed=seed * 1000 + fold,
                                          augment=augment), tr)
    ds_va = distribute.shard(make_dataset(x_va, y_va, tr.batch_size, training=False, seed=seed), tr)
    ds_te = make_dataset(x_te, y_te, tr.batch_size, training=False, seed=seed)
    steps = tr.steps_per_epoch or math.ceil(len(x_tr) / tr.batch_size)

    with distribute.scope(tr):  # trainer.batch_size is the global batch
        model = build_model(cfg.model, cfg.regularizer, data.input_shape, data.num_classes)
        state.params = int(model.count_params())
        model.compile(optimizer=build_optimizer(cfg.optimizer, steps, tr.epochs),
                      loss="categorical_crossentropy" if soft else "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    distribute.prepare_fit(model, tr, ds_tr)

    best = BestEpoch(tr.monitor)
    callbacks = [MetricsLogger(writer, fold), best, keras.callbacks.TerminateOnNaN()]
    if not state.quiet:
        callbacks.append(Progress(fold, n_folds, tr.epochs, steps))
    if tr.early_stopping.enabled:
        es = tr.early_stopping
        callbacks.append(keras.callbacks.EarlyStopping(monitor=es.monitor, patience=es.patience, min_delta=es.min_delta,
                                                       mode="max" if "acc" in es.monitor else "min"))
    if callbacks_factory is not None:
        callbacks.extend(callbacks_factory(fold, n_folds))
    history = model.fit(ds_tr.repeat() if tr.steps_per_epoch else ds_tr, validation_data=ds_va, epochs=tr.epochs,
                        steps_per_epoch=tr.steps_per_epoch, callbacks=callbacks, verbose=0)
    losses = history.history.get("loss", [])
    if losses and not all(math.isfinite(v) for v in losses):
        raise RunFailed(f"NaN/inf loss at epoch {len(losses)} (fold {fold}); lower optimizer.lr or add optimizer.clipnorm")
    best.restore()
    # one pass over the test set: loss and accuracy from the probabilities, as Keras computes them
    # predicted outside the strategy (a copy made out of its scope), whole and in order, on every worker
    inference = _inference_copy(model)
    probs = inference.predict(ds_te, verbose=0)
    test = test_metrics(probs, y_te, penalty=float(sum(float(l) for l in model.losses)) if model.losses else 0.0)
    if tr.checkpoint:
        name = "model.keras" if n_folds == 1 else f"model_fold{fold}.keras"
        atomic_save_model(inference, state.run_dir / name)
    # the restored weights are the best epoch's, so its logged validation values are theirs
    metrics = {"val_accuracy": best.best_logs.get("val_accuracy"), "val_loss": best.best_logs.get("val_loss"), **test}
    return FoldResult(fold, best.best_epoch, len(losses), {k: float(v) for k, v in metrics.items()},
                      probs.astype("float32"), time.time() - t0)


def run_train(cfg: DictConfig, run_dir: Path, callbacks_factory: CallbackFactory | None = None,
              quiet: bool = False) -> dict:
    """Train ``cfg`` into ``run_dir`` and return the summary. Raises RunFailed/Interrupted after
    writing ``summary.json`` with status ``failed``/``interrupted``."""
    from kopt.runtime import setup_tensorflow

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tr = cfg.trainer
    setup_tensorflow(int(cfg.seed), tr.deterministic, tr.intra_threads, tr.inter_threads, tr.verbose)
    from kopt.training.distribute import get_strategy

    get_strategy(tr)  # before TensorFlow's runtime starts: multi-worker collectives are set up only then
    import keras

    from kopt.console import console, header, train_table
    from kopt.data.datasets import load_dataset
    from kopt.data.splits import make_splits

    hydra_cfg = run_dir / ".hydra" / "config.yaml"
    if not hydra_cfg.exists():
        atomic_write_text(hydra_cfg, OmegaConf.to_yaml(cfg))
    state = RunState(cfg, run_dir, quiet=quiet)
    from kopt.tracking import Tracking  # tb/, metrics.csv, MLflow, curves.png

    tracking = Tracking(cfg, run_dir)
    callbacks_factory = tracking.wrap(callbacks_factory)
    if not quiet:
        header("kopt train", state.choices(), str(run_dir))
    writer = MetricsWriter(run_dir / METRICS)
    with sigterm_as_interrupt():
        try:
            state.write("running")
            data = load_dataset(cfg.dataset, int(cfg.seed))
            splits = make_splits(cfg.split, data.y, int(cfg.seed), fixed_test=data.test_idx)
            splits.save(run_dir / SPLITS)
            state.extra["data"] = {"name": data.name, "n": int(len(data.y)), "n_test": int(len(splits.test)),
                                   "input_shape": list(data.input_shape), "classes": data.num_classes}
            for fold, (train_idx, val_idx) in enumerate(splits.folds):
                try:
                    state.folds.append(train_fold(state, data, fold, len(splits.folds), train_idx, val_idx,
                                                  splits.test, writer, callbacks_factory))
                finally:
                    keras.backend.clear_session()
                    gc.collect()
                state.write("running")
            probs = np.stack([f.probs for f in state.folds])
            atomic_savez(run_dir / PREDICTIONS, y_true=data.y[splits.test], probs=probs.mean(axis=0),
                         fold_probs=probs, test_idx=splits.test)
            summary = state.write("completed")
        except Interrupted as exc:
            state.write("interrupted", "SIGTERM" if exc.exit_code == 143 else "SIGINT")
            console.print(f"[yellow]interrupted[/]: run dir {run_dir} is marked interrupted")
            raise
        except KeyboardInterrupt:
            state.write("interrupted", "SIGINT")
            console.print(f"[yellow]interrupted[/]: run dir {run_dir} is marked interrupted")
            raise Interrupted(2) from None
        except (KoptError, RunFailed) as exc:
            state.write("failed", str(exc))
            raise
        except Exception as exc:
            state.write("failed", f"{type(exc).__name__}: {exc}")
            raise RunFailed(f"{type(exc).__name__}: {exc} (run dir {run_dir})") from exc
        finally:
            tracking.finish()
    if not quiet:
        console.print(train_table(summary))
    return summary


def run_from_hydra(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig

    return run_train(cfg, Path(HydraConfig.get().runtime.output_dir))
