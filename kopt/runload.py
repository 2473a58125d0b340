"""Whether two finished `kopt train` runs can be compared (compare, ab, ensemble), and where
those commands write. The runs are read by the run-dir contract's reader,
:func:`kopt.rundir.load_run` (strict); TensorFlow is never imported here.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np

from kopt.errors import KoptError
from kopt.rundir import FOLD_METRICS, SPLITS, RunDir

__all__ = ["FOLD_METRICS", "check_comparable", "output_dir", "same_dataset", "same_test_set", "timestamp"]


def _brief(node) -> str:
    return json.dumps(node, sort_keys=True, default=str)


def same_dataset(a: RunDir, b: RunDir) -> str | None:
    """None if both runs used the same dataset config, else a short description of the difference."""
    da, db = a.config.get("dataset"), b.config.get("dataset")
    if da != db:
        return f"different dataset ({_brief(da)} vs {_brief(db)})"
    return None


def same_test_set(a: RunDir, b: RunDir) -> str | None:
    pa, pb = a.predictions, b.predictions
    if not np.array_equal(pa["test_idx"], pb["test_idx"]) or not np.array_equal(pa["y_true"], pb["y_true"]):
        return f"different test sets ({len(pa['test_idx'])} vs {len(pb['test_idx'])} examples, indices differ)"
    return None


def check_comparable(a: RunDir, b: RunDir) -> None:
    """Refuse a pair whose folds are not the same examples: dataset, split, seed, saved indices."""
    if a.path.resolve() == b.path.resolve():
        raise KoptError(f"A and B are the same run ({a.path}); give two different run dirs")
    problem = same_dataset(a, b)
    if problem is None and a.config.get("split") != b.config.get("split"):
        problem = f"different split strategy ({_brief(a.config.get('split'))} vs {_brief(b.config.get('split'))})"
    if problem is None and a.summary.seed != b.summary.seed:
        problem = f"different seed ({a.summary.seed} vs {b.summary.seed})"
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
