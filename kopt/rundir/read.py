"""The one reader of run dirs: :func:`load_run` (strict or lenient) and :class:`RunDir`.

* strict (``kopt compare``, ``ab``, ``ensemble``): a completed run with folds, or KoptError
  saying why it is not one;
* lenient (``kopt report``, sweep summaries): any run dir, whatever its state; no summary.json
  reads as status ``unknown``, a running run whose process on this host is gone as ``died``.

In both modes a file that cannot be used raises :class:`kopt.runfiles.BadFile` (naming it).
Files are opened through kopt/runfiles.py: only JSON, safe YAML and ``.npz`` without pickle are
read, nothing from a run dir is executed, and TensorFlow is never imported here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from kopt.errors import KoptError
from kopt.procs import process_alive
from kopt.rundir.files import PREDICTIONS, SPLITS, SUMMARY, read_metrics
from kopt.rundir.names import COMPLETED, DIED, RUNNING, UNKNOWN
from kopt.rundir.summary import Summary
from kopt.runfiles import BadFile, load_npz, read_json_object, read_yaml

if TYPE_CHECKING:  # numpy loads with the first array, not with this module
    import numpy as np

# summary.json's data.task: what predictions.npz holds (kopt.schemas.metrics.TASKS, less auto, which a run resolves)
TASKS = ("multiclass", "binary", "multilabel", "regression")

# summary.json keys a reader uses, and the types they must have
_TYPES = {
    "status": str,
    "choices": dict,
    "metrics": dict,
    "folds_averaged": dict,
    "params": int,
    "duration_s": (int, float),
    "folds": list,
    "error": str,
    "started_at": str,
    "finished_at": str,
    "name": str,
    "seed": (int, str),
}


def run_died(summary: dict) -> bool:
    """A run dir's summary says `running`, but its process on this host is gone (OOM kill, power loss)."""
    import socket

    if summary.get("status") != RUNNING or summary.get("host") != socket.gethostname():
        return False
    pid, started = summary.get("pid"), summary.get("started_at")
    try:
        since = dt.datetime.fromisoformat(started) if isinstance(started, str) else None
    except ValueError:
        since = None
    return isinstance(pid, int) and not isinstance(pid, bool) and not process_alive(pid, since)


def check_types(path: Path, raw: dict) -> None:
    for key, types in _TYPES.items():
        value = raw.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise BadFile(f"{path}: {key} is a {type(value).__name__}, not a {getattr(types, '__name__', 'number')}")
    for key, value in (raw.get("choices") or {}).items():
        if isinstance(value, (dict, list)):
            raise BadFile(f"{path}: choices.{key} is a {type(value).__name__}, not an option name")
    if not all(isinstance(f, dict) for f in raw.get("folds") or []):
        raise BadFile(f"{path}: folds is not a list of objects")


def read_summary(run_dir: Path, strict: bool = True) -> Summary:
    """The summary of ``run_dir``, type-checked. Without one: KoptError (strict), or status
    ``unknown`` (lenient); lenient also reads a run whose process is gone as ``died``."""
    run_dir = Path(run_dir)
    path = run_dir / SUMMARY
    try:
        raw = read_json_object(path, root=run_dir)
    except FileNotFoundError:
        if strict:
            raise KoptError(f"{run_dir}: no {SUMMARY} (not a kopt train run dir)") from None
        raw = {"status": UNKNOWN, "error": f"no {SUMMARY}"}
    check_types(path, raw)
    if not strict and run_died(raw):
        raw = {**raw, "status": DIED, "error": raw.get("error") or f"process {raw['pid']} is gone"}
    return Summary.from_dict({"status": UNKNOWN, **raw})


@dataclass
class RunDir:
    """One run dir as read: its summary, and its other files on first use."""

    path: Path
    summary: Summary

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def folds(self) -> list[dict]:
        return self.summary.folds

    @cached_property
    def config(self) -> dict:
        """.hydra/config.yaml as plain containers."""
        path = self.path / ".hydra" / "config.yaml"
        try:
            config = read_yaml(path, root=self.path)
        except FileNotFoundError:
            raise KoptError(f"{self.path}: no .hydra/config.yaml (not a kopt train run dir)") from None
        if not isinstance(config, dict):
            raise BadFile(f"{path}: not a kopt config (a YAML {type(config).__name__}, not a mapping)")
        for group in ("dataset", "split"):
            if not isinstance(config.get(group), (dict, type(None))):
                raise BadFile(f"{path}: {group} is not a mapping")
        return config

    @cached_property
    def overrides(self) -> list[str]:
        """.hydra/overrides.yaml (none when it is missing)."""
        path = self.path / ".hydra" / "overrides.yaml"
        try:
            data = read_yaml(path, root=self.path)
        except FileNotFoundError:
            return []
        if not isinstance(data, list) or not all(isinstance(o, (str, int, float)) for o in data):
            raise BadFile(f"{path}: not a list of overrides")
        return [str(o) for o in data]

    @property
    def task(self) -> str:
        """summary.json's ``data.task`` (``multiclass`` for a run of a kopt that did not record it)."""
        data = self.summary.data if isinstance(self.summary.data, dict) else {}
        task = data.get("task") or "multiclass"
        if task not in TASKS:
            raise BadFile(f"{self.path / SUMMARY}: data.task is {task!r}; allowed: {', '.join(TASKS)}")
        return str(task)

    @cached_property
    def predictions(self) -> dict[str, np.ndarray]:
        arrays = self._npz(PREDICTIONS, ("y_true", "probs", "fold_probs", "test_idx"))
        check_predictions(self.path / PREDICTIONS, arrays, len(self.folds), self.task)
        return arrays

    @cached_property
    def splits(self) -> dict[str, np.ndarray]:
        n = len(self.folds)
        required = ("test", *(f"{part}_{i}" for i in range(n) for part in ("train", "val")))
        arrays = self._npz(SPLITS, required)
        for key in required:
            if arrays[key].ndim != 1 or arrays[key].dtype.kind not in "iu":
                raise BadFile(f"{self.path / SPLITS}: {key} is not a 1-D array of indices")
        return arrays

    def curves(self) -> list[dict]:
        return read_metrics(self.path)

    def fold_scores(self, metric: str) -> np.ndarray:
        import numpy as np

        values = [f.get(metric) for f in self.folds]
        if not values or any(not isinstance(v, (int, float)) for v in values):
            allowed = sorted(
                k
                for k, v in (self.folds[0] if self.folds else {}).items()
                if isinstance(v, float) and k not in ("duration_s",)
            )
            raise KoptError(f"--metric {metric}: not a per-fold score of {self.path}; allowed: {', '.join(allowed)}")
        return np.asarray(values, dtype=np.float64)

    def _npz(self, name: str, required: tuple[str, ...]) -> dict[str, np.ndarray]:
        try:
            return load_npz(self.path / name, required, root=self.path)
        except FileNotFoundError:
            raise KoptError(f"{self.path}: no {name} (not a finished kopt train run dir)") from None


def check_predictions(path: Path, arrays: dict[str, np.ndarray], n_folds: int, task: str = "multiclass") -> None:
    """Refuse predictions that the statistics cannot use: wrong shapes, labels or probabilities.
    Per task (predictions.npz follows it): one class index per example and (n, classes)
    probabilities; a regression's values, (n,) and (n, 1); a multi-label 0/1 matrix (n, labels)
    and one probability per label."""
    y, probs, fold_probs, test_idx = (arrays[k] for k in ("y_true", "probs", "fold_probs", "test_idx"))

    import numpy as np

    def bad(problem: str):
        raise BadFile(f"{path}: {problem}")

    if task == "regression":
        if y.ndim != 1 or y.dtype.kind not in "iuf" or not len(y) or not np.isfinite(y).all():
            bad(f"y_true must be a non-empty 1-D array of finite values (got {y.dtype} of shape {y.shape})")
        if probs.shape != (len(y), 1) or probs.dtype.kind != "f":
            bad(f"probs must be ({len(y)}, 1) predicted values (got {probs.dtype} of shape {probs.shape})")
    elif task == "multilabel":
        if y.ndim != 2 or y.dtype.kind not in "iubf" or not len(y) or not np.isin(y, (0, 1)).all():
            bad(f"y_true must be a non-empty (examples, labels) array of 0 and 1 (got {y.dtype} of shape {y.shape})")
        if probs.shape != y.shape or probs.dtype.kind != "f":
            bad(f"probs must be {y.shape} probabilities, one per label (got {probs.dtype} of shape {probs.shape})")
    else:
        if y.ndim != 1 or y.dtype.kind not in "iu" or not len(y):
            bad(f"y_true must be a non-empty 1-D array of class indices (got {y.dtype} of shape {y.shape})")
        if probs.ndim != 2 or probs.shape[0] != len(y) or probs.shape[1] < 2 or probs.dtype.kind != "f":
            bad(f"probs must be ({len(y)}, classes) probabilities (got {probs.dtype} of shape {probs.shape})")
    if fold_probs.ndim != 3 or fold_probs.shape[1:] != probs.shape or fold_probs.dtype.kind != "f":
        bad(
            f"fold_probs must be (folds, {len(y)}, {probs.shape[1]}) (got {fold_probs.dtype} of shape {fold_probs.shape})"
        )
    if len(fold_probs) != n_folds:
        bad(f"fold_probs holds {len(fold_probs)} fold(s), summary.json {n_folds}")
    if test_idx.shape != y.shape[:1] or test_idx.dtype.kind not in "iu":
        bad(f"test_idx must be {len(y)} indices (got {test_idx.dtype} of shape {test_idx.shape})")
    if task not in ("regression", "multilabel") and (y.min() < 0 or y.max() >= probs.shape[1]):
        bad(f"y_true holds class {int(y.min() if y.min() < 0 else y.max())}; allowed: 0 .. {probs.shape[1] - 1}")
    for key in ("probs", "fold_probs"):
        p = arrays[key]
        if not np.isfinite(p).all():
            bad(f"{key} holds NaN or inf")
        if task != "regression" and (p.min() < 0 or p.max() > 1 + 1e-3):
            bad(f"{key} holds values outside 0 .. 1 (not probabilities)")


def load_run(path: str | Path, strict: bool = True) -> RunDir:
    """A run dir. ``strict``: a completed train run with folds, or KoptError saying why it is not
    one; lenient: any run dir (its .hydra/overrides.yaml is checked at once)."""
    path = Path(path)
    if strict and not path.is_dir():
        raise KoptError(f"{path}: no such run dir")
    run = RunDir(path, read_summary(path, strict))
    if not strict:
        run.overrides  # noqa: B018 - a bad overrides file leaves the run out of a report, as a bad summary does
        return run
    if run.summary.status != COMPLETED:
        raise KoptError(f"{path}: run status is {run.summary.status!r}, only completed runs can be used")
    if not run.folds:
        raise KoptError(f"{path / SUMMARY}: no folds recorded")
    return run
