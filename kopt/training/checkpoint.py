"""Per-epoch checkpoints in ``<run dir>/checkpoints/``, so an interrupted run resumes where it stopped.

  fold<k>-epoch<NNNN>.npz  after each epoch: model variables (weights and dropout seed states),
                           optimizer variables (step, moments), the best-so-far score and
                           weights, early-stopping state, every RNG state, and a JSON header
  fold<k>-result.npz       a finished fold: its test probabilities and its metrics row

Each file is written atomically and read with ``allow_pickle=False``: loading one runs no code.
The newest two epoch checkpoints of the running fold are kept, so a truncated or corrupt newest
file (a crash while the disk was full, a bad copy) falls back to the one before. The folder is
deleted once the run completes: the run dir then holds the final results only.
"""

from __future__ import annotations

import json
import math
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kopt.rundir import FOLD_FIELDS, atomic_savez, read_metrics
from kopt.training.fold import FoldResult

CHECKPOINTS = "checkpoints"
FORMAT = 1
KEEP = 2


class CorruptCheckpoint(Exception):
    """A checkpoint file that cannot be read or does not fit the model."""


def _warn(message: str) -> None:
    import sys

    print(f"kopt: warning: {message}", file=sys.stderr, flush=True)


@dataclass
class EpochCheckpoint:
    path: Path
    fold: int
    epoch: int  # epochs completed in this fold
    fit_done: bool  # the last epoch ran, or early stopping ended the fold
    model: list[np.ndarray]
    optimizer: list[np.ndarray]
    best: dict  # {"value", "epoch"}
    best_weights: list[np.ndarray]
    early_stopping: dict | None
    rng: dict[str, np.ndarray] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)  # this fold's metrics.jsonl rows up to ``epoch``


def _numbered(arrays, prefix: str) -> list[np.ndarray]:
    keys = sorted((k for k in arrays if k.startswith(prefix)), key=lambda k: int(k[len(prefix) :]))
    return [arrays[k] for k in keys]


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of ``path`` (pickled objects refused), or CorruptCheckpoint saying why not."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise CorruptCheckpoint(f"{type(exc).__name__}: {exc}") from None


def _header(arrays: dict[str, np.ndarray]) -> dict:
    try:
        meta = json.loads(str(arrays["meta"]))
    except (KeyError, ValueError, RecursionError) as exc:
        raise CorruptCheckpoint(f"no readable header ({exc})") from None
    if not isinstance(meta, dict):
        raise CorruptCheckpoint("no readable header (not a JSON object)")
    if meta.get("format") != FORMAT:
        raise CorruptCheckpoint(f"checkpoint format {meta.get('format')!r}, expected {FORMAT}")
    return meta


RNG_ARRAYS = ("rng/python/internal", "rng/python/gauss", "rng/numpy/keys", "rng/numpy/pos", "rng/numpy/gauss")
EARLY_KEYS = ("wait", "stopped_epoch", "best_epoch", "best")


def _check_header(path: Path, meta: dict, arrays: dict, fold: int, epochs: int | None) -> None:
    """Every field and array an epoch checkpoint needs, with values in range."""
    missing = [k for k in ("fold", "epoch", "fit_done") if k not in meta]
    missing += [k for k in RNG_ARRAYS if k not in arrays]
    if missing:
        raise CorruptCheckpoint(f"missing {', '.join(missing)}")
    name_epoch = path.stem.rsplit("epoch", 1)[-1]
    epoch = meta["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1 or (epochs is not None and epoch > epochs):
        raise CorruptCheckpoint(f"epoch {epoch!r} out of range; allowed: 1 .. {epochs or 'trainer.epochs'}")
    if meta["fold"] != fold or not name_epoch.isdigit() or int(name_epoch) != epoch:
        raise CorruptCheckpoint(f"its header (fold {meta['fold']!r}, epoch {epoch}) does not match its name")
    best, early = meta.get("best"), meta.get("early_stopping")
    if best is not None and (not isinstance(best, dict) or not isinstance(best.get("logs", {}), dict)):
        raise CorruptCheckpoint("best is not an object")
    if early is not None and (not isinstance(early, dict) or any(k not in early for k in EARLY_KEYS)):
        raise CorruptCheckpoint(f"early_stopping needs {', '.join(EARLY_KEYS)}")


def _check_shapes(what: str, saved: list[np.ndarray], variables) -> None:
    if len(saved) != len(variables):
        raise CorruptCheckpoint(f"{len(saved)} {what} arrays, the model has {len(variables)}")
    for arr, var in zip(saved, variables):
        if tuple(arr.shape) != tuple(var.shape):
            raise CorruptCheckpoint(f"{what} {var.path}: shape {tuple(arr.shape)}, expected {tuple(var.shape)}")


class CheckpointStore:
    """The ``checkpoints/`` folder of one run dir."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / CHECKPOINTS

    def epoch_files(self, fold: int) -> list[Path]:
        """This fold's epoch checkpoints, newest first."""
        return sorted(self.dir.glob(f"fold{fold}-epoch*.npz"), reverse=True)

    def result_file(self, fold: int) -> Path:
        return self.dir / f"fold{fold}-result.npz"

    # -- writing ------------------------------------------------------------------------------
    def save_epoch(self, fold: int, epoch: int, fit_done: bool, model, best, early) -> Path:
        from kopt.training import rng

        meta = {
            "format": FORMAT,
            "fold": fold,
            "epoch": epoch,
            "fit_done": bool(fit_done),
            "best": {
                "value": best.best if math.isfinite(best.best) else None,
                "epoch": best.best_epoch,
                "logs": getattr(best, "best_logs", {}),
            },
            "early_stopping": early_state(early),
            "model_paths": [v.path for v in model.variables],
            "rows": [r for r in read_metrics(self.dir.parent) if r.get("fold") == fold and r.get("epoch", 0) <= epoch],
        }
        arrays = {"meta": np.asarray(json.dumps(meta))}
        arrays.update({f"model/{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)})
        arrays.update({f"optimizer/{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)})
        arrays.update({f"best/{i}": w for i, w in enumerate(best.best_weights or [])})
        arrays.update(rng.capture())
        path = self.dir / f"fold{fold}-epoch{epoch:04d}.npz"
        atomic_savez(path, compressed=False, **arrays)
        for old in self.epoch_files(fold)[KEEP:]:
            old.unlink(missing_ok=True)
        return path

    def save_result(self, result) -> None:
        row = {**result.row(), "params": getattr(result, "params", None)}
        atomic_savez(
            self.result_file(result.fold),
            compressed=False,
            meta=np.asarray(json.dumps(row)),
            probs=np.asarray(result.probs),
        )
        for path in self.epoch_files(result.fold):
            path.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- reading ------------------------------------------------------------------------------
    def load_result(self, fold: int):
        """The FoldResult of a finished fold, or None (a corrupt file is moved aside: the fold reruns)."""
        path = self.result_file(fold)
        if not path.exists():
            return None
        try:
            arrays = read_npz(path)
            row = json.loads(str(arrays["meta"]))
            metrics = {k: float(v) for k, v in row.items() if k not in (*FOLD_FIELDS, "params")}  # every score
            result = FoldResult(
                int(row["fold"]),
                int(row["best_epoch"]),
                int(row["epochs_run"]),
                metrics,
                arrays["probs"],
                float(row["duration_s"]),
            )
            if result.fold != fold or result.probs.ndim != 2:
                raise ValueError(f"fold {result.fold} with probabilities of shape {result.probs.shape}")
        except (CorruptCheckpoint, KeyError, ValueError, TypeError) as exc:
            self._set_aside(path, f"{exc}; fold {fold} is trained again")
            return None
        return result

    def load_epoch(self, fold: int, model, epochs: int | None = None) -> EpochCheckpoint | None:
        """The newest readable epoch checkpoint of ``fold`` that fits ``model`` (and ``epochs``);
        unreadable or incomplete ones are reported (naming the file), set aside as ``*.corrupt`` and
        the previous one is tried."""
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        for path in self.epoch_files(fold):
            try:
                return self._read_epoch(path, model, fold, epochs)
            except (CorruptCheckpoint, KeyError, TypeError, ValueError) as exc:
                why = exc if isinstance(exc, CorruptCheckpoint) else f"{type(exc).__name__}: {exc}"
                self._set_aside(path, f"{why}; trying the previous checkpoint")
        return None

    def _read_epoch(self, path: Path, model, fold: int, epochs: int | None = None) -> EpochCheckpoint:
        arrays = read_npz(path)
        meta = _header(arrays)
        _check_header(path, meta, arrays, fold, epochs)
        saved_model = _numbered(arrays, "model/")
        _check_shapes("model variable", saved_model, model.variables)
        saved_optimizer = _numbered(arrays, "optimizer/")
        _check_shapes("optimizer variable", saved_optimizer, model.optimizer.variables)
        best_weights = _numbered(arrays, "best/")
        if best_weights:
            _check_shapes("best-epoch weight", best_weights, model.weights)
        best = meta.get("best") or {}
        return EpochCheckpoint(
            path,
            int(meta["fold"]),
            int(meta["epoch"]),
            bool(meta["fit_done"]),
            saved_model,
            saved_optimizer,
            best,
            best_weights,
            meta.get("early_stopping"),
            {k: v for k, v in arrays.items() if k.startswith("rng/")},
            [r for r in meta.get("rows") or [] if isinstance(r, dict)],
        )

    def _set_aside(self, path: Path, why: str) -> None:
        _warn(f"checkpoint {path} is unreadable ({why})")
        try:
            path.replace(path.with_name(path.name + ".corrupt"))
        except OSError:
            pass


def early_state(early) -> dict | None:
    if early is None:
        return None
    best = early.best
    return {
        "wait": int(early.wait),
        "stopped_epoch": int(early.stopped_epoch),
        "best_epoch": int(early.best_epoch),
        "best": None if best is None or not math.isfinite(float(best)) else float(best),
    }


def apply_to_model(ckpt: EpochCheckpoint, model) -> None:
    """Model, optimizer and RNG states as they were at the end of epoch ``ckpt.epoch``."""
    from kopt.training import rng

    for var, arr in zip(model.variables, ckpt.model):
        var.assign(arr)
    for var, arr in zip(model.optimizer.variables, ckpt.optimizer):
        var.assign(arr)
    rng.restore(ckpt.rng)


def apply_to_callbacks(ckpt: EpochCheckpoint, best, early) -> None:
    """Best-epoch and early-stopping state (call after their on_train_begin reset them)."""
    value = ckpt.best.get("value")
    if value is not None or ckpt.best.get("epoch"):  # (protocol=fixed without validation data: no value)
        best.best = float(value) if value is not None else math.nan
        best.best_epoch = int(ckpt.best.get("epoch") or 0)
        best.best_weights = list(ckpt.best_weights) or None
        best.best_logs = dict(ckpt.best.get("logs") or {})
    if early is not None and ckpt.early_stopping:
        state = ckpt.early_stopping
        early.wait, early.stopped_epoch = state["wait"], state["stopped_epoch"]
        early.best_epoch = state["best_epoch"]
        if state["best"] is not None:
            early.best = state["best"]


def checkpointer(store: CheckpointStore, fold: int, epochs: int, best, early, restore: EpochCheckpoint | None):
    """A Keras callback that writes an epoch checkpoint after every finished epoch with a finite
    loss. Put it after BestEpoch and EarlyStopping: it restores their state from ``restore`` once
    their ``on_train_begin`` has reset them, and saves it after their ``on_epoch_end``."""
    import keras  # keras loads with TensorFlow: only once a run starts

    class Checkpointer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if restore is not None:
                apply_to_callbacks(restore, best, early)

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is None or not math.isfinite(float(loss)):
                return  # a NaN epoch is never a resume point
            fit_done = bool(self.model.stop_training) or epoch + 1 >= epochs
            store.save_epoch(fold, epoch + 1, fit_done, self.model, best, early)

    return Checkpointer()
