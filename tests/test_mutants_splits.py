"""kopt.data.splits' splitter objects and the checks of make_splits, value by value (`make mutants`);
tests/test_splits.py pins the folds themselves."""

from __future__ import annotations

from dataclasses import replace

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


def test_splitters_defaults():
    g = splits.GroupKFold()
    assert (g.k, g.stratify, g.seed, g.get_n_splits()) == (5, True, 0, 5)
    h = splits.Holdout()
    assert (h.val_size, h.stratify, h.seed) == (0.2, True, 0)
    assert (h.splitter.test_size, h.splitter.random_state) == (0.2, 0)
    k = splits.KFold()
    assert (k.k, k.stratify, k.shuffle, k.seed) == (5, True, True, 0)
    assert type(k.splitter).__name__ == "StratifiedKFold" and (k.splitter.shuffle, k.splitter.random_state) == (True, 0)
    r = splits.RepeatedKFold()
    assert (r.k, r.repeats, r.stratify, r.seed, r.get_n_splits()) == (5, 2, True, 0, 10)
    assert r.splitter.random_state == 0
    t = splits.TimeSplit()
    assert (t.k, t.gap, t.splitter.n_splits, t.splitter.gap, t.get_n_splits()) == (3, 0, 3, 0, 3)


def _folds(pairs):
    return [(tr.tolist(), va.tolist()) for tr, va in pairs]


def test_group_kfold_stratifies_only_when_asked_and_every_class_has_k_samples():
    from sklearn.model_selection import GroupKFold as SkGroupKFold
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.array([0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1])  # class 0 has 4 samples: k = 4 stratifies, k = 5 does not
    groups = np.arange(12)
    X = np.zeros(12)
    stratified = _folds(splits.GroupKFold(4, True, 3).split(X, y, groups))
    ref = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=3).split(X, y, groups)
    assert stratified == _folds((np.sort(tr), np.sort(va)) for tr, va in ref)
    plain = _folds(SkGroupKFold(n_splits=4).split(X, y, groups))
    assert _folds(splits.GroupKFold(4, False, 3).split(X, y, groups)) == plain != stratified
    assert stratified != _folds(splits.GroupKFold(4, True, 4).split(X, y, groups))
    five = _folds(splits.GroupKFold(5, True, 3).split(X, y, groups))
    assert five == _folds(SkGroupKFold(n_splits=5).split(X, y, groups))


def test_splits_load_refuses_pickled_arrays(tmp_path):
    path = tmp_path / "splits.npz"
    np.savez(path, test=np.array([1, "a"], dtype=object), train_0=np.arange(2), val_0=np.arange(2))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        splits.Splits.load(path)


def test_min_per_class_of_group_and_time_splits_is_one():
    assert splits.min_per_class(cfg(name="group_kfold", k=5, stratify=True)) == 1
    assert splits.min_per_class(cfg(name="time", k=3)) == 1


def test_typed_split_types_a_known_name_and_passes_an_unknown_one():
    refit = cfg(name="refit", folds=2)
    assert splits.typed_split(refit) is refit
    typed = splits.typed_split(cfg(name="kfold", k=3))
    assert type(typed).__name__ == "KFoldConfig" and (typed.k, typed.stratify, typed.test_size) == (3, True, 0.2)
    assert splits.typed_split(typed) is typed


Y16 = np.array([0] * 16 + [1] * 4)


def test_test_split_is_stratified_by_default_and_sorted():
    assert [a.tolist() for a in splits.test_split(Y16, 0.25, 1)] == [
        [0, 1, 2, 3, 4, 6, 7, 9, 10, 13, 14, 15, 17, 18, 19],
        [5, 8, 11, 12, 16],
    ]
    assert splits.test_split(Y16, 0.25, 1, True)[1].tolist() == [5, 8, 11, 12, 16]  # one of class 1's four
    assert splits.test_split(Y16, 0.25, 1, False)[1].tolist() == [2, 3, 6, 10, 16]
    # unstratified, a class of one sample is no error
    assert splits.test_split(np.array([0] * 9 + [1]), 0.2, 0, False)[1].tolist() == [2, 8]
    with pytest.raises(KoptError) as err:
        splits.test_split(np.array([0, 0, 1]), 0.5, 0)
    assert str(err.value).startswith("split.test_size=0.5: The least populated class")


YG = np.array([0] * 12 + [1] * 4 + [2] * 4)
GROUPS = np.arange(20) // 2


@pytest.mark.parametrize(
    ("test_size", "stratify", "test"),
    [
        (0.25, True, [6, 7, 8, 9, 18, 19]),  # one of 4 folds
        (0.25, False, [2, 3, 8, 9, 10, 11]),  # GroupShuffleSplit: a quarter of the groups
        (0.5, True, [2, 3, 6, 7, 10, 11, 14, 15, 18, 19]),  # one of 2 folds
        (0.5, False, [2, 3, 4, 5, 8, 9, 10, 11, 18, 19]),
    ],
)
def test_group_test_split_is_whole_groups(test_size, stratify, test):
    pool, got = splits.group_test_split(YG, GROUPS, test_size, 3, stratify)
    assert got.tolist() == test
    assert pool.tolist() == [i for i in range(20) if i not in test]
    s = splits.make_splits(cfg(name="group_kfold", k=2, stratify=stratify, test_size=test_size), YG, 3, groups=GROUPS)
    assert s.test.tolist() == test


def test_group_test_split_refusal_line():
    with pytest.raises(KoptError) as err:
        splits.group_test_split(YG, np.zeros(20), 0.5, 0, True)
    assert str(err.value) == (
        "split.test_size=0.5 with dataset.groups: "
        "Cannot have number of splits n_splits=2 greater than the number of groups: 1."
    )


def test_time_test_split_edges():
    order = np.arange(10)
    # gap 6: 8 - 6 = 2 distinct times left to train on, the fewest allowed
    assert [a.tolist() for a in splits.time_test_split(order, 0.2, 6)] == [[0, 1], [8, 9]]
    # 1% of 10 rows rounds to 0: one row all the same
    assert [a.tolist() for a in splits.time_test_split(order, 0.01, 0)] == [list(range(9)), [9]]
    with pytest.raises(KoptError) as err:
        splits.time_test_split(order, 0.2, 7)
    assert str(err.value) == (
        "split.gap=7 with split.test_size=0.2: only 10 distinct times (10 rows); nothing left to train on; "
        "use a smaller gap or test_size"
    )


TIME_REFUSAL = (
    "split=time: the fixed test set has rows at or before the last training row (by dataset.order); "
    "its rows must all come later"
)


def test_a_fixed_time_test_set_must_come_after_the_pool():
    time = cfg(name="time", k=2, gap=0, test_size=0.2)
    y = np.zeros(10, dtype=int)
    for order, fixed in ((np.arange(10), [4, 9]), (np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 8]), [9])):
        with pytest.raises(KoptError) as err:
            splits.make_splits(time, y, 0, fixed_test=fixed, order=order)
        assert str(err.value) == TIME_REFUSAL
    ok = splits.make_splits(time, y, 0, fixed_test=[8, 9], order=np.arange(10))
    assert ok.test.tolist() == [8, 9] and _folds(ok.folds) == [([0, 1, 2, 3], [4, 5]), ([0, 1, 2, 3, 4, 5], [6, 7])]
    no_order = splits.make_splits(time, y, 0, fixed_test=[0, 9])  # no dataset.order: nothing to check
    assert no_order.test.tolist() == [0, 9]
    # a split other than time does not read the order
    other = cfg(name="holdout", val_size=0.25, stratify=False, test_size=0.2)
    s = splits.make_splits(other, y, 0, fixed_test=np.array([0, 1], dtype=np.int32), order=np.arange(10))
    assert s.test.tolist() == [0, 1] and s.test.dtype == np.int64


def test_make_splits_unstratified_uses_plain_kfold_over_an_unstratified_test_split():
    from sklearn.model_selection import KFold as SkKFold
    from sklearn.model_selection import train_test_split

    y = np.arange(20)  # one sample per value: stratifying would refuse
    s = splits.make_splits(cfg(name="kfold", k=4, test_size=0.2), y, 5, stratify=False)
    pool, test = train_test_split(np.arange(20), test_size=0.2, random_state=5)
    pool, test = np.sort(pool), np.sort(test)
    assert s.test.tolist() == test.tolist()
    ref = [(np.sort(pool[tr]), np.sort(pool[va])) for tr, va in SkKFold(4, shuffle=True, random_state=5).split(pool)]
    assert _folds(s.folds) == _folds(ref)


def test_make_splits_stratifies_its_test_split_by_default():
    s = splits.make_splits(cfg(name="kfold", k=2, test_size=0.25), Y16, 1)
    assert s.test.tolist() == [5, 8, 11, 12, 16]


def test_make_splits_group_refusals_are_one_line():
    with pytest.raises(KoptError) as err:
        splits.make_splits(cfg(name="group_kfold", k=2), Y, 0)
    assert str(err.value) == ("split=group_kfold needs groups; set dataset.groups=<column> (dataset=table, csv or npz)")
    y, groups = np.array([0, 1] * 6), np.arange(12) // 2  # group 5 is the test set: 5 groups left
    five = splits.make_splits(cfg(name="group_kfold", k=5, stratify=True), y, 0, fixed_test=[10, 11], groups=groups)
    assert len(five.folds) == 5 and sorted(len(va) for _, va in five.folds) == [2] * 5
    with pytest.raises(KoptError) as err:
        splits.make_splits(cfg(name="group_kfold", k=6, stratify=True), y, 0, fixed_test=[10, 11], groups=groups)
    assert str(err.value) == (
        "split.k=6: only 5 groups (dataset.groups) outside the test set; allowed: k <= the number of groups"
    )
    one = replace(splits.typed_split(cfg(name="group_kfold")), k=1, stratify=False)  # typed: passes unchecked
    with pytest.raises(KoptError) as err:
        splits.make_splits(one, y, 0, groups=groups)
    assert str(err.value) == (
        "split.k=1: k-fold cross-validation requires at least one train/test split by setting n_splits=2 or more, "
        "got n_splits=1."
    )
