"""kopt.data.splits' splitter objects and the checks of make_splits, value by value (`make mutants`);
tests/test_splits.py pins the folds themselves."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from kopt.data import splits
from kopt.errors import KoptError

Y = np.array([0, 1] * 10)


def test_splitters_keep_their_settings_and_count_their_folds():
    h = splits.Holdout(0.25, False, 3)
    assert (h.val_size, h.stratify, h.seed, h.get_n_splits()) == (0.25, False, 3, 1)
    assert type(h.splitter).__name__ == "ShuffleSplit" and h.splitter.test_size == 0.25 and h.splitter.random_state == 3
    assert type(splits.Holdout().splitter).__name__ == "StratifiedShuffleSplit"
    k = splits.KFold(4, False, True, 7)
    assert (k.k, k.stratify, k.shuffle, k.seed, k.get_n_splits()) == (4, False, True, 7, 4)
    assert type(k.splitter).__name__ == "KFold" and k.splitter.random_state == 7 and k.splitter.shuffle is True
    plain = splits.KFold(3, True, False, 7)
    assert type(plain.splitter).__name__ == "StratifiedKFold" and plain.splitter.random_state is None
    assert splits.KFold().get_n_splits(None, None, None) == 5
    r = splits.RepeatedKFold(3, 4, False, 2)
    assert (r.k, r.repeats, r.stratify, r.seed, r.get_n_splits()) == (3, 4, False, 2, 12)
    assert type(r.splitter).__name__ == "RepeatedKFold"
    assert type(splits.RepeatedKFold().splitter).__name__ == "RepeatedStratifiedKFold"


def test_holdout_indices_are_sorted_and_unstratified_when_asked():
    ((train, val),) = splits.Holdout(0.3, False, 0).split(np.zeros(20), np.array([0] * 19 + [1]))
    assert train.tolist() == sorted(train.tolist()) and val.tolist() == sorted(val.tolist())
    assert len(val) == 6 and sorted([*train, *val]) == list(range(20))


def cfg(**values):
    return OmegaConf.create(values)


def test_min_per_class():
    assert splits.min_per_class(cfg(name="cv5x2", k=9)) == 2
    assert splits.min_per_class(cfg(name="kfold", k=4)) == 4
    assert splits.min_per_class(cfg(name="holdout", stratify=True)) == 2
    assert splits.min_per_class(cfg(name="holdout", stratify=False)) == 1
    assert splits.min_per_class(cfg(name="holdout")) == 1


def test_make_splits_refusals_are_one_line():
    with pytest.raises(KoptError) as err:
        splits.make_splits(cfg(name="loo"), Y, 0)
    assert str(err.value) == "split=loo: unknown; allowed: cv5x2, group_kfold, holdout, kfold, repeated_kfold, time"
    with pytest.raises(KoptError) as err:
        splits.make_splits(cfg(name="kfold", k=9, stratify=True, shuffle=True, test_size=0.2), Y, 0)
    assert str(err.value) == (
        "split.k=9: class 0 has only 8 samples outside the test set but needs at least 9; "
        "use fewer folds, a smaller split.test_size, or more data"
    )
    assert len(splits.make_splits(cfg(name="kfold", k=8, stratify=True, shuffle=True, test_size=0.2), Y, 0).folds) == 8
    y = np.array([0] * 10 + [1] * 3)
    with pytest.raises(KoptError) as err:
        splits.make_splits(cfg(name="cv5x2", stratify=True), y, 0, fixed_test=np.array([10, 11]))
    assert str(err.value) == (
        "split=cv5x2: class 1 has only 1 samples outside the test set but needs at least 2; "
        "use fewer folds, a smaller split.test_size, or more data"
    )


def test_a_fixed_test_set_is_sorted_and_left_out_of_the_pool():
    s = splits.make_splits(cfg(name="holdout", val_size=0.25, stratify=True), Y, 0, fixed_test=[19, 3, 0, 8])
    assert s.test.tolist() == [0, 3, 8, 19] and s.test.dtype == np.int64
    ((train, val),) = s.folds
    assert sorted([*train, *val]) == [i for i in range(20) if i not in (0, 3, 8, 19)] and len(val) == 4
