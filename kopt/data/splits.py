"""The ``split`` group. Every strategy first sets aside a fixed test set (the one the data ships
with, else a stratified share chosen by the seed), then splits the rest (the pool) with a
splitter that wraps scikit-learn's (``split(X, y)`` and ``get_n_splits``). The folds are the ones
kopt made before the wrap (``tests/test_splits.py`` pins them): a resumed run recomputes its folds
and refuses to continue when they differ from its ``splits.npz``.

Indices that splitters yield are positions in the pool; :func:`make_splits` maps them back
to dataset indices, so a run can save them and two runs can be checked as paired.
"""

from __future__ import annotations

from dataclasses import dataclass, is_dataclass, replace
from pathlib import Path

import numpy as np

from kopt.errors import KoptError


@dataclass
class Splits:
    test: np.ndarray  # dataset indices, never trained or tuned on
    folds: list[tuple[np.ndarray, np.ndarray]]  # (train, val) dataset indices per fold

    def save(self, path: Path) -> None:
        from kopt.rundir import atomic_savez

        arrays = {"test": self.test}
        for i, (train, val) in enumerate(self.folds):
            arrays[f"train_{i}"] = train
            arrays[f"val_{i}"] = val
        atomic_savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> Splits:
        with np.load(path, allow_pickle=False) as z:
            n = sum(1 for k in z.files if k.startswith("train_"))
            return cls(z["test"], [(z[f"train_{i}"], z[f"val_{i}"]) for i in range(n)])


class _Wrapped:
    """A scikit-learn splitter (``self.splitter``): its ``split(X, y[, groups])`` and ``get_n_splits``."""

    splitter = None

    def split(self, X, y, groups=None):
        yield from self.splitter.split(X, y)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.splitter.get_n_splits(X, y, groups)


class Holdout(_Wrapped):
    """One train/val split: scikit-learn's ``StratifiedShuffleSplit`` (``ShuffleSplit`` unstratified),
    which ``train_test_split`` runs too: the same indices, sorted."""

    def __init__(self, val_size: float = 0.2, stratify: bool = True, seed: int = 0):
        from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

        self.val_size, self.stratify, self.seed = val_size, stratify, seed
        cls = StratifiedShuffleSplit if stratify else ShuffleSplit
        self.splitter = cls(n_splits=1, test_size=val_size, random_state=seed)

    def split(self, X, y, groups=None):
        for train, val in self.splitter.split(X, y if self.stratify else None):
            yield np.sort(train), np.sort(val)


class KFold(_Wrapped):
    """k folds: scikit-learn's ``StratifiedKFold`` (``KFold`` unstratified)."""

    def __init__(self, k: int = 5, stratify: bool = True, shuffle: bool = True, seed: int = 0):
        from sklearn.model_selection import KFold as SkKFold
        from sklearn.model_selection import StratifiedKFold

        self.k, self.stratify, self.shuffle, self.seed = k, stratify, shuffle, seed
        cls = StratifiedKFold if stratify else SkKFold
        self.splitter = cls(n_splits=k, shuffle=shuffle, random_state=seed if shuffle else None)


class RepeatedKFold(_Wrapped):
    """k folds repeated with a different shuffle each time; fold order is repeat-major: scikit-learn's
    ``RepeatedStratifiedKFold`` (``RepeatedKFold`` unstratified)."""

    def __init__(self, k: int = 5, repeats: int = 2, stratify: bool = True, seed: int = 0):
        from sklearn.model_selection import RepeatedKFold as SkRepeated
        from sklearn.model_selection import RepeatedStratifiedKFold

        self.k, self.repeats, self.stratify, self.seed = k, repeats, stratify, seed
        cls = RepeatedStratifiedKFold if stratify else SkRepeated
        self.splitter = cls(n_splits=k, n_repeats=repeats, random_state=seed)


class GroupKFold(_Wrapped):
    """k folds that keep each group (``dataset.groups``) on one side: scikit-learn's
    ``StratifiedGroupKFold`` (shuffled by the seed) when ``stratify`` and every class has k samples,
    else ``GroupKFold``."""

    def __init__(self, k: int = 5, stratify: bool = True, seed: int = 0):
        self.k, self.stratify, self.seed = k, stratify, seed

    def split(self, X, y, groups=None):
        from sklearn.model_selection import GroupKFold as SkGroupKFold
        from sklearn.model_selection import StratifiedGroupKFold

        if self.stratify and np.bincount(y).min() >= self.k:
            splitter = StratifiedGroupKFold(n_splits=self.k, shuffle=True, random_state=self.seed)
        else:
            splitter = SkGroupKFold(n_splits=self.k)
        for train, val in splitter.split(X, y, groups):
            yield np.sort(train), np.sort(val)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.k


class TimeSplit(_Wrapped):
    """k folds in time order: scikit-learn's ``TimeSeriesSplit`` with ``gap`` rows left out
    between each fold's training rows and its validation rows (X, y in time order)."""

    def __init__(self, k: int = 3, gap: int = 0):
        from sklearn.model_selection import TimeSeriesSplit

        self.k, self.gap = k, gap
        self.splitter = TimeSeriesSplit(n_splits=k, gap=gap)


SPLITTERS = {
    "holdout": lambda cfg, seed: Holdout(cfg.val_size, cfg.stratify, seed),
    "kfold": lambda cfg, seed: KFold(cfg.k, cfg.stratify, cfg.shuffle, seed),
    "repeated_kfold": lambda cfg, seed: RepeatedKFold(cfg.k, cfg.repeats, cfg.stratify, seed),
    "cv5x2": lambda cfg, seed: RepeatedKFold(2, 5, cfg.stratify, seed),
    "group_kfold": lambda cfg, seed: GroupKFold(cfg.k, cfg.stratify, seed),
    "time": lambda cfg, seed: TimeSplit(cfg.k, cfg.gap),
}


def test_split(y: np.ndarray, test_size: float, seed: int, stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    try:
        pool, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y if stratify else None)
    except ValueError as exc:
        raise KoptError(f"split.test_size={test_size}: {exc}") from None
    return np.sort(pool), np.sort(test)


def group_test_split(
    y: np.ndarray, groups: np.ndarray, test_size: float, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A test set of whole groups: one fold of a shuffled ``StratifiedGroupKFold`` with about
    1/test_size folds (``GroupShuffleSplit`` unstratified)."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    X = np.zeros(len(y))
    try:
        if stratify:
            splitter = StratifiedGroupKFold(n_splits=max(2, round(1 / test_size)), shuffle=True, random_state=seed)
        else:
            splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        pool, test = next(splitter.split(X, y, groups))
    except ValueError as exc:
        raise KoptError(f"split.test_size={test_size} with dataset.groups: {exc}") from None
    return np.sort(pool), np.sort(test)


def time_test_split(order: np.ndarray, test_size: float, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``test_size`` share of the rows in time order is the test set (with every row of
    its first time), the rows of the ``gap`` distinct times before it are left out, and the pool
    is the rest: every test row comes after every pool row."""
    times = np.unique(order)  # sorted, distinct
    n_test = max(1, round(test_size * len(order)))
    first = np.searchsorted(times, np.sort(order, kind="stable")[len(order) - n_test])
    if first - gap < 2:
        raise KoptError(
            f"split.gap={gap} with split.test_size={test_size}: only {len(times)} distinct times "
            f"({len(order)} rows); nothing left to train on; use a smaller gap or test_size"
        )
    return np.flatnonzero(order < times[first - gap]), np.flatnonzero(order >= times[first])


def min_per_class(cfg) -> int:
    """The fewest pool samples a class needs: one per fold (k-fold), two for a stratified holdout;
    one for group and time splits (their folds are not stratified by class)."""
    if cfg.name in ("group_kfold", "time"):
        return 1
    if cfg.name == "cv5x2":
        return 2
    if getattr(cfg, "k", None):
        return int(cfg.k)
    return 2 if getattr(cfg, "stratify", False) else 1


def typed_split(cfg):
    """The ``split`` node, typed and checked (a typed config passes through), as the model and
    dataset builders receive theirs (kopt.validate.typed_option). A splitter registered without a
    schema (the retrain's ``refit``, kopt.tune.results.retrain: no config group choice) gets its node."""
    from kopt.schemas import group_schemas
    from kopt.validate import typed_option

    if not is_dataclass(cfg) and cfg.name not in group_schemas("split"):
        return cfg
    return typed_option("split", cfg)


def _test_and_pool(cfg, y, seed, fixed_test, groups, order, stratify) -> tuple[np.ndarray, np.ndarray]:
    if fixed_test is not None:
        test = np.sort(np.asarray(fixed_test, dtype="int64"))
        pool = np.setdiff1d(np.arange(len(y)), test)
        if cfg.name == "time" and order is not None and len(test) and order[test].min() <= order[pool].max():
            raise KoptError(
                "split=time: the fixed test set has rows at or before the last training row (by dataset.order); "
                "its rows must all come later"
            )
        return pool, test
    if cfg.name == "group_kfold":
        return group_test_split(y, groups, cfg.test_size, seed, cfg.stratify)
    if cfg.name == "time":
        return time_test_split(np.arange(len(y)) if order is None else order, cfg.test_size, int(cfg.gap))
    return test_split(y, cfg.test_size, seed, stratify=stratify)


def _time_folds(splitter, pool: np.ndarray, order: np.ndarray, k: int) -> list:
    """The splitter runs over the pool's distinct times in order, so rows of one time are never
    split between training and validation; ``gap`` counts distinct times (rows, without ties)."""
    times, at = np.unique(order[pool], return_inverse=True)
    try:
        pairs = list(splitter.split(np.zeros(len(times)), np.zeros(len(times))))
    except ValueError as exc:
        raise KoptError(f"split.k={k}: {exc}") from None
    return [(pool[np.isin(at, tr)], pool[np.isin(at, va)]) for tr, va in pairs]


def make_splits(
    cfg,
    y: np.ndarray,
    seed: int,
    fixed_test: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    order: np.ndarray | None = None,
    stratify: bool = True,
) -> Splits:
    """Test set (``fixed_test`` when the data ships one, else a stratified ``split.test_size`` share;
    whole groups for ``group_kfold``, the last rows in time order for ``time``), then the
    splitter's folds over the rest. Depends only on (y, groups, order, seed, split config)."""
    if cfg.name not in SPLITTERS:
        raise KoptError(f"split={cfg.name}: unknown; allowed: {', '.join(sorted(SPLITTERS))}")
    cfg = typed_split(cfg)
    if cfg.name == "group_kfold" and groups is None:
        raise KoptError("split=group_kfold needs groups; set dataset.groups=<column> (dataset=table, csv or npz)")
    if not stratify and is_dataclass(cfg) and hasattr(cfg, "stratify"):
        cfg = replace(cfg, stratify=False)  # a regression or multilabel task: KFold, ShuffleSplit, ... (no classes)
    pool, test = _test_and_pool(cfg, y, seed, fixed_test, groups, order, stratify)
    counts = np.bincount(y[pool]) if stratify else np.array([len(pool)])
    need = min_per_class(cfg)
    if counts.min() < need:
        small = int(np.argmin(counts))
        what = f"split.k={cfg.k}" if getattr(cfg, "k", None) else f"split={cfg.name}"
        raise KoptError(
            f"{what}: class {small} has only {counts.min()} samples outside the test set but needs "
            f"at least {need}; use fewer folds, a smaller split.test_size, or more data"
        )
    if cfg.name == "group_kfold" and len(np.unique(groups[pool])) < cfg.k:
        raise KoptError(
            f"split.k={cfg.k}: only {len(np.unique(groups[pool]))} groups (dataset.groups) outside the test set; "
            "allowed: k <= the number of groups"
        )
    splitter = SPLITTERS[cfg.name](cfg, seed)
    if cfg.name == "time":
        return Splits(test, _time_folds(splitter, pool, np.arange(len(y)) if order is None else order, cfg.k))
    X = np.zeros(len(pool))
    try:
        folds = [
            (np.sort(pool[tr]), np.sort(pool[va]))
            for tr, va in splitter.split(X, y[pool], None if groups is None else groups[pool])
        ]
    except ValueError as exc:  # e.g. a validation share smaller than the number of classes
        what = f"split.k={cfg.k}" if cfg.name == "group_kfold" else f"split={cfg.name}"
        raise KoptError(f"{what}: {exc}") from None
    return Splits(test, folds)
