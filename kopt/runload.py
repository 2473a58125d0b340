"""Read finished `kopt train` run dirs (the run-dir contract) for compare and ensemble.

Only JSON, YAML and ``.npz`` arrays are read (``allow_pickle=False``): nothing from a run
dir is executed, and TensorFlow is never imported here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import numpy as np

from kopt.errors import KoptError
from kopt.rundir import PREDICTIONS, SPLITS, SUMMARY
from kopt.runfiles import BadFile, load_npz, read_json_object, read_yaml

FOLD_METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss")  # per-fold scores in summary.json


@dataclass
class FinishedRun:
    path: Path
    summary: dict

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def folds(self) -> list[dict]:
        return self.summary.get("folds", [])

    @cached_property
    def config(self) -> dict:
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
    def predictions(self) -> dict[str, np.ndarray]:
        arrays = _load_npz(self, PREDICTIONS, ("y_true", "probs", "fold_probs", "test_idx"))
        check_predictions(self.path / PREDICTIONS, arrays, len(self.folds))
        return arrays

    @cached_property
    def splits(self) -> dict[str, np.ndarray]:
        n = len(self.folds)
        required = ("test", *(f"{part}_{i}" for i in range(n) for part in ("train", "val")))
        arrays = _load_npz(self, SPLITS, required)
        for key in required:
            if arrays[key].ndim != 1 or arrays[key].dtype.kind not in "iu":
                raise BadFile(f"{self.path / SPLITS}: {key} is not a 1-D array of indices")
        return arrays

    def fold_scores(self, metric: str) -> np.ndarray:
        values = [f.get(metric) for f in self.folds]
        if not values or any(not isinstance(v, (int, float)) for v in values):
            allowed = sorted(k for k, v in (self.folds[0] if self.folds else {}).items()
                             if isinstance(v, float) and k not in ("duration_s",))
            raise KoptError(f"--metric {metric}: not a per-fold score of {self.path}; allowed: {', '.join(allowed)}")
        return np.asarray(values, dtype=np.float64)


def _load_npz(run: FinishedRun, name: str, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        return load_npz(run.path / name, required, root=run.path)
    except FileNotFoundError:
        raise KoptError(f"{run.path}: no {name} (not a finished kopt train run dir)") from None


def check_predictions(path: Path, arrays: dict[str, np.ndarray], n_folds: int) -> None:
    """Refuse predictions that the statistics cannot use: wrong shapes, labels or probabilities."""
    y, probs, fold_probs, test_idx = (arrays[k] for k in ("y_true", "probs", "fold_probs", "test_idx"))

    def bad(problem: str):
        raise BadFile(f"{path}: {problem}")

    if y.ndim != 1 or y.dtype.kind not in "iu" or not len(y):
        bad(f"y_true must be a non-empty 1-D array of class indices (got {y.dtype} of shape {y.shape})")
    if probs.ndim != 2 or probs.shape[0] != len(y) or probs.shape[1] < 2 or probs.dtype.kind != "f":
        bad(f"probs must be ({len(y)}, classes) probabilities (got {probs.dtype} of shape {probs.shape})")
    if fold_probs.ndim != 3 or fold_probs.shape[1:] != probs.shape or fold_probs.dtype.kind != "f":
        bad(f"fold_probs must be (folds, {len(y)}, {probs.shape[1]}) (got {fold_probs.dtype} of shape {fold_probs.shape})")
    if len(fold_probs) != n_folds:
        bad(f"fold_probs holds {len(fold_probs)} fold(s), summary.json {n_folds}")
    if test_idx.shape != y.shape or test_idx.dtype.kind not in "iu":
        bad(f"test_idx must be {len(y)} indices (got {test_idx.dtype} of shape {test_idx.shape})")
    if y.min() < 0 or y.max() >= probs.shape[1]:
        bad(f"y_true holds class {int(y.min() if y.min() < 0 else y.max())}; allowed: 0 .. {probs.shape[1] - 1}")
    for key in ("probs", "fold_probs"):
        p = arrays[key]
        if not np.isfinite(p).all():
            bad(f"{key} holds NaN or inf")
        if p.min() < 0 or p.max() > 1 + 1e-3:
            bad(f"{key} holds values outside 0 .. 1 (not probabilities)")


def load_run(path: str | Path) -> FinishedRun:
    """A completed train run dir, or KoptError saying why it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise KoptError(f"{path}: no such run dir")
    summary_path = path / SUMMARY
    try:
        summary = read_json_object(summary_path, root=path)
    except FileNotFoundError:
        raise KoptError(f"{path}: no {SUMMARY} (not a kopt train run dir)") from None
    status = summary.get("status")
    if status != "completed":
        raise KoptError(f"{path}: run status is {status!r}, only completed runs can be used")
    folds = summary.get("folds")
    if not folds:
        raise KoptError(f"{summary_path}: no folds recorded")
    if not isinstance(folds, list) or not all(isinstance(f, dict) for f in folds):
        raise BadFile(f"{summary_path}: folds is not a list of objects")
    for key in ("metrics", "choices"):
        if not isinstance(summary.get(key, {}), dict):
            raise BadFile(f"{summary_path}: {key} is not an object")
    return FinishedRun(path, summary)


def _brief(node) -> str:
    return json.dumps(node, sort_keys=True, default=str)


def same_dataset(a: FinishedRun, b: FinishedRun) -> str | None:
    """None if both runs used the same dataset config, else a short description of the difference."""
    da, db = a.config.get("dataset"), b.config.get("dataset")
    if da != db:
        return f"different dataset ({_brief(da)} vs {_brief(db)})"
    return None


def same_test_set(a: FinishedRun, b: FinishedRun) -> str | None:
    pa, pb = a.predictions, b.predictions
    if not np.array_equal(pa["test_idx"], pb["test_idx"]) or not np.array_equal(pa["y_true"], pb["y_true"]):
        return f"different test sets ({len(pa['test_idx'])} vs {len(pb['test_idx'])} examples, indices differ)"
    return None


def check_comparable(a: FinishedRun, b: FinishedRun) -> None:
    """Refuse a pair whose folds are not the same examples: dataset, split, seed, saved indices."""
    if a.path.resolve() == b.path.resolve():
        raise KoptError(f"A and B are the same run ({a.path}); give two different run dirs")
    problem = same_dataset(a, b)
    if problem is None and a.config.get("split") != b.config.get("split"):
        problem = f"different split strategy ({_brief(a.config.get('split'))} vs {_brief(b.config.get('split'))})"
    if problem is None and a.summary.get("seed") != b.summary.get("seed"):
        problem = f"different seed ({a.summary.get('seed')} vs {b.summary.get('seed')})"
    if problem is None:
        sa, sb = a.splits, b.splits
        if sorted(sa) != sorted(sb):
            problem = f"different fold assignment ({len(sa) // 2} vs {len(sb) // 2} folds in {SPLITS})"
        else:
            differ = [k for k in sorted(sa) if not np.array_equal(sa[k], sb[k])]
            if differ:
                problem = f"different fold assignment ({SPLITS} differs in {', '.join(differ[:4])})"
    if problem is None and len(a.folds) != len(b.folds):
        problem = f"different number of finished folds ({len(a.folds)} vs {len(b.folds)})"
    if problem is None:
        problem = same_test_set(a, b)
    if problem is not None:
        raise KoptError(f"A and B are not comparable: {problem}; A={a.path} B={b.path}")


def timestamp() -> str:
    """The run-dir name format of `kopt train` (local time, microseconds)."""
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")


def output_dir(kind: str, out: str | None) -> Path:
    """``--out`` if given, else ``runs/<kind>/<timestamp>/`` under the current folder (not created)."""
    return Path(out) if out else Path("runs") / kind / timestamp()
