"""Read finished `kopt train` run dirs (the run-dir contract) for compare and ensemble.

Only JSON, YAML and ``.npz`` arrays are read (``allow_pickle=False``): nothing from a run
dir is executed, and TensorFlow is never imported here.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import numpy as np

from kopt.errors import KoptError
from kopt.rundir import PREDICTIONS, SPLITS, SUMMARY

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
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        path = self.path / ".hydra" / "config.yaml"
        if not path.is_file():
            raise KoptError(f"{self.path}: no .hydra/config.yaml (not a kopt train run dir)")
        try:
            return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        except (OmegaConfBaseException, ValueError, OSError) as exc:
            raise KoptError(f"{path}: unreadable config ({str(exc).splitlines()[0]})") from None

    @cached_property
    def predictions(self) -> dict[str, np.ndarray]:
        return _load_npz(self.path / PREDICTIONS, ("y_true", "probs", "fold_probs", "test_idx"))

    @cached_property
    def splits(self) -> dict[str, np.ndarray]:
        return _load_npz(self.path / SPLITS, ("test",))

    def fold_scores(self, metric: str) -> np.ndarray:
        values = [f.get(metric) for f in self.folds]
        if not values or any(not isinstance(v, (int, float)) for v in values):
            allowed = sorted(k for k, v in (self.folds[0] if self.folds else {}).items()
                             if isinstance(v, float) and k not in ("duration_s",))
            raise KoptError(f"--metric {metric}: not a per-fold score of {self.path}; allowed: {', '.join(allowed)}")
        return np.asarray(values, dtype=np.float64)


def _load_npz(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise KoptError(f"{path.parent}: no {path.name} (not a finished kopt train run dir)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise KoptError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise KoptError(f"{path}: missing array(s) {', '.join(missing)}")
    return arrays


def load_run(path: str | Path) -> FinishedRun:
    """A completed train run dir, or KoptError saying why it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise KoptError(f"{path}: no such run dir")
    summary_path = path / SUMMARY
    if not summary_path.is_file():
        raise KoptError(f"{path}: no {SUMMARY} (not a kopt train run dir)")
    try:
        summary = json.loads(summary_path.read_text())
    except (ValueError, OSError) as exc:
        raise KoptError(f"{summary_path}: malformed JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise KoptError(f"{summary_path}: malformed (not a JSON object)")
    status = summary.get("status")
    if status != "completed":
        raise KoptError(f"{path}: run status is {status!r}, only completed runs can be used")
    if not summary.get("folds"):
        raise KoptError(f"{summary_path}: no folds recorded")
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
