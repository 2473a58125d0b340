"""Labels that look like a regression target, refused before any run dir is made.

kopt trains classifiers: every distinct label is a class. A regression target (ages, prices
rounded to integers) read as classes gives many classes with a row or two each, and fails deep
inside scikit-learn's stratified split, naming encoded class indices, after a run dir exists.

The rule. Labels look like a regression target when they are integers (a CSV label column of
numbers, an npz ``y_train``) with at least :data:`MANY` distinct values, and either

* they skip values (an npz's labels are class indices 0..C-1, every class present: 20..69 is not), or
* one of them has fewer rows than the split needs to stratify: 2 for the stratified test set
  (``split.test_size``), and in the rest ``split.k`` for k-fold splits, 2 for a stratified
  holdout or cv5x2 (:func:`kopt.data.splits.min_per_class`).

Text labels are classes however many there are, and a few integer classes that the split cannot
stratify get the split's own one-line error (also before any run dir).
"""

from __future__ import annotations

import numpy as np

from kopt.data.base import Data
from kopt.errors import KoptError

MANY = 10  # distinct integer values from which sparse labels read as a regression target
TASK_HINT = "dataset.task=regression is for regression tasks: set it to predict the values"


def label_source(cfg) -> str:
    """Where the labels come from, as the error names it: ``dataset.label='age'``, ``dataset.path=X: y_train``."""
    label = getattr(cfg, "label", None)
    if label:
        return f"dataset.label={label!r}"
    return f"dataset.path={getattr(cfg, 'path', None)}: y_train"


def _integers(data: Data) -> bool:
    if data.class_names:
        return all(str(n).lstrip("-").isdigit() for n in data.class_names)
    y = np.asarray(data.y)
    return y.dtype == bool or np.issubdtype(y.dtype, np.integer) or bool(np.all(np.isfinite(y) & (y == np.round(y))))


def refuse_skipped_values(data: Data, where: str) -> None:
    """Raw integer labels (an npz's) with many distinct values that skip some of 0..max."""
    y = np.asarray(data.y)
    if y.ndim != 1 or len(y) == 0 or not _integers(data) or not np.issubdtype(y.dtype, np.number):
        return
    values = np.unique(y)
    if len(values) < MANY:
        return
    low, high = int(values.min()), int(values.max())
    skipped = high - low + 1 - len(values) + max(0, low)  # 0..low-1 and the gaps
    if low < 0 or skipped > 0:
        raise KoptError(
            f"{where}: the labels look like a regression target, not classes: {len(values)} distinct integer "
            f"values from {low} to {high}, {skipped} values in 0..{high} with no rows (classes are 0..C-1, every "
            f"one present); {TASK_HINT}"
        )


def check_stratifiable(data: Data, split_cfg, seed: int, where: str) -> None:
    """The split's folds can be made from these labels; if not, and the labels are many integers,
    they are called a regression target (see the module's rule)."""
    from kopt.data.splits import make_splits

    try:
        make_splits(
            split_cfg,
            data.y,
            seed,
            fixed_test=data.test_idx,
            groups=data.groups,
            order=data.order,
            stratify=data.stratify,
        )
    except KoptError:
        if not data.stratify:
            raise
        y = np.asarray(data.y)
        counts = np.bincount(y, minlength=len(data.class_names) or 0)
        if not _integers(data) or len(counts) < MANY:
            raise
        from kopt.data.splits import min_per_class

        need = max(min_per_class(split_cfg), 2 if data.test_idx is None else 1)
        few = int((counts < need).sum())
        raise KoptError(
            f"{where}: the labels look like a regression target, not classes: {len(counts)} distinct integer "
            f"values, {few} of them with fewer than the {need} rows split={split_cfg.name} needs per class to "
            f"stratify; {TASK_HINT}"
        ) from None
