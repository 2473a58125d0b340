"""split=group_kfold and split=time: each group on one side of every fold and of the test set;
every validation and test row after all of its training rows, with split.gap rows between."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT, assert_clean_error, only_run_dir, read_summary, run_kopt
from omegaconf import OmegaConf

from kopt.data.splits import Splits, make_splits
from kopt.errors import KoptError

MLP = ["model=mlp", "model.width=8", "model.depth=1", "trainer.epochs=1", "trainer.batch_size=32"]
GROUP = {"name": "group_kfold", "test_size": 0.2, "k": 3, "stratify": True}
TIME = {"name": "time", "test_size": 0.2, "k": 3, "gap": 4}


def assert_groups_apart(splits: Splits, groups: np.ndarray) -> None:
    test_groups = set(groups[splits.test])
    for train, val in splits.folds:
        assert set(groups[train]).isdisjoint(groups[val])
        assert set(groups[train]).isdisjoint(test_groups) and set(groups[val]).isdisjoint(test_groups)


def assert_time_ordered(splits: Splits, order: np.ndarray, gap: int) -> None:
    rank = np.empty(len(order), int)
    rank[np.argsort(order, kind="stable")] = np.arange(len(order))  # position in time
    for train, val in splits.folds:
        assert rank[val].min() - rank[train].max() == gap + 1  # gap rows left out, then validation
        assert rank[splits.test].min() - rank[val].max() >= 1
        assert rank[splits.test].min() - rank[train].max() > gap
    assert rank[splits.test].max() == len(order) - 1  # the test set is the last rows


@pytest.mark.parametrize("stratify", [True, False])
def test_group_kfold_keeps_every_group_on_one_side(stratify):
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 25, 200)
    y = rng.integers(0, 2, 200)
    splits = make_splits(OmegaConf.create({**GROUP, "stratify": stratify}), y, 0, groups=groups)
    assert len(splits.folds) == 3 and len(splits.test) > 0
    assert_groups_apart(splits, groups)
    pool = np.setdiff1d(np.arange(200), splits.test)
    assert np.array_equal(np.sort(np.concatenate([v for _, v in splits.folds])), pool)


def test_time_split_orders_folds_and_test_by_the_order_column():
    order = np.random.default_rng(1).permutation(100) * 10.0  # times, rows shuffled
    y = np.arange(100) % 2
    splits = make_splits(OmegaConf.create(TIME), y, 0, order=order)
    assert len(splits.folds) == 3 and len(splits.test) == 20
    assert_time_ordered(splits, order, gap=4)


def test_rows_of_one_time_stay_on_one_side_and_the_gap_counts_times():
    order = np.repeat(np.arange(30), 4)[np.random.default_rng(3).permutation(120)]  # 4 rows per day
    splits = make_splits(OmegaConf.create({**TIME, "gap": 2}), np.arange(120) % 2, 0, order=order)
    assert len(splits.test) == 24 and set(order[splits.test]) == set(range(24, 30))
    for train, val in splits.folds:
        assert order[val].min() - order[train].max() == 3  # 2 whole days left out
        assert order[splits.test].min() - order[val].max() >= 1
    last_train, last_val = splits.folds[-1]
    assert set(order[last_train]) | set(order[last_val]) <= set(range(22))  # the 2 days before the test set: left out
    assert order[last_val].max() == 21


def test_group_split_without_groups_and_too_many_folds_are_one_line():
    y = np.arange(40) % 2
    with pytest.raises(KoptError, match=r"split=group_kfold needs groups; set dataset\.groups"):
        make_splits(OmegaConf.create(GROUP), y, 0)
    with pytest.raises(KoptError, match=r"split\.k=3: only 2 groups"):
        make_splits(OmegaConf.create({**GROUP, "stratify": False}), y, 0, groups=np.arange(40) % 3)
    with pytest.raises(KoptError, match=r"split\.k=30"):
        make_splits(OmegaConf.create({**TIME, "k": 30}), y, 0)


def _npz(path, n=120):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    x = (rng.standard_normal((n, 4)) + y[:, None]).astype("float32")
    np.savez(path, x_train=x, y_train=y, patient=np.arange(n) // 6)
    return np.arange(n) // 6


def test_a_group_kfold_run_saves_folds_that_keep_groups_apart(tmp_path):
    groups = _npz(tmp_path / "d.npz")
    proc = run_kopt(
        "train", "dataset=npz", f"dataset.path={tmp_path / 'd.npz'}", "dataset.groups=patient", "split=group_kfold",
        "split.k=3", *MLP, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    splits = Splits.load(only_run_dir(tmp_path) / "splits.npz")
    assert len(splits.folds) == 3
    assert_groups_apart(splits, groups)


def test_a_time_run_saves_folds_in_row_order_with_the_gap(tmp_path):
    _npz(tmp_path / "d.npz")
    proc = run_kopt(
        "train", "dataset=npz", f"dataset.path={tmp_path / 'd.npz'}", "split=time", "split.k=2", "split.gap=5",
        *MLP, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    splits = Splits.load(only_run_dir(tmp_path) / "splits.npz")
    assert len(splits.folds) == 2
    assert_time_ordered(splits, np.arange(120), gap=5)


NPZ = ["dataset=npz", "dataset.path=d.npz"]


@pytest.mark.parametrize(
    "args, needles",
    [
        (["dataset=iris", "split=group_kfold"], ["split=group_kfold needs groups; set dataset.groups=<column>"]),
        ([*NPZ, "split=group_kfold"], ["split=group_kfold needs groups; set dataset.groups=<column>"]),
        ([*NPZ, "dataset.groups=patient"], ["dataset.groups=patient: only split=group_kfold"]),
        ([*NPZ, "split=group_kfold", "dataset.groups=nope"], ["dataset.groups=nope: no such array", "patient"]),
        ([*NPZ, "split=time", "split.k=200"], ["split.k=200", "number of folds"]),
    ],
)
def test_group_and_time_split_errors_are_one_line(tmp_path, args, needles):
    _npz(tmp_path / "d.npz")
    proc = run_kopt("train", *args, *MLP, cwd=tmp_path)
    assert_clean_error(proc, *needles)


def test_a_time_run_on_a_table_orders_rows_by_its_order_column(tmp_path):
    rng = np.random.default_rng(2)
    t = rng.permutation(100) * 3.0  # times, rows shuffled
    y = (t > 150).astype(int)
    site = np.arange(100) % 7
    lines = ["t,site,f,label", *(f"{a},{s},{a / 100 + rng.normal()},{b}" for a, s, b in zip(t, site, y))]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    proc = run_kopt(
        "train", "dataset=csv", "dataset.path=t.csv", "dataset.order=t", "dataset.drop=[site]", "split=time",
        "split.k=2", "split.gap=3", *MLP, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    assert_time_ordered(Splits.load(run / "splits.npz"), t, gap=3)
    assert read_summary(run)["data"]["input_shape"] == [1]  # the order column is no feature

    from kopt.data.datasets import load_dataset

    node = OmegaConf.merge(OmegaConf.load(ROOT / "configs/dataset/csv.yaml"), {"path": str(tmp_path / "t.csv")})
    data = load_dataset(OmegaConf.merge(node, {"groups": "site", "drop": ["t"]}), 0)
    assert data.x.shape == (100, 1) and np.array_equal(data.groups, site)
    assert_groups_apart(make_splits(OmegaConf.create(GROUP), data.y, 0, groups=data.groups), site)


def test_a_group_in_both_the_table_and_its_fixed_test_file_is_refused(tmp_path):
    from kopt.data.datasets import load_dataset

    (tmp_path / "a.csv").write_text("site,f,label\n" + "".join(f"{i % 5},{i},{i % 2}\n" for i in range(30)))
    (tmp_path / "b.csv").write_text("site,f,label\n7,1,0\n4,2,1\n")
    node = OmegaConf.merge(OmegaConf.load(ROOT / "configs/dataset/csv.yaml"), {"path": str(tmp_path / "a.csv")})
    node = OmegaConf.merge(node, {"groups": "site", "test_path": str(tmp_path / "b.csv")})
    with pytest.raises(
        KoptError, match=r"dataset.groups=site: group 4 has rows in dataset.path and in dataset.test_path"
    ):
        load_dataset(node, 0)
    (tmp_path / "b.csv").write_text("site,f,label\n7,1,0\n8,2,1\n")
    data = load_dataset(node, 0)
    assert data.test_idx.tolist() == [30, 31] and data.groups[:30].tolist() == [i % 5 for i in range(30)]
