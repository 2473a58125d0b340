"""Every split strategy: disjoint folds covering the pool, the test set untouched, seeded assignment."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import only_run_dir, read_summary, run_kopt
from omegaconf import OmegaConf

from kopt.data.splits import SPLITTERS, Splits, make_splits
from kopt.errors import KoptError

STRATEGIES = {
    "holdout": {"name": "holdout", "test_size": 0.2, "val_size": 0.25, "stratify": True},
    "holdout_plain": {"name": "holdout", "test_size": 0.2, "val_size": 0.3, "stratify": False},
    "kfold": {"name": "kfold", "test_size": 0.2, "k": 4, "stratify": True, "shuffle": True},
    "kfold_plain": {"name": "kfold", "test_size": 0.2, "k": 3, "stratify": False, "shuffle": True},
    "repeated_kfold": {"name": "repeated_kfold", "test_size": 0.2, "k": 3, "repeats": 3, "stratify": True},
    "cv5x2": {"name": "cv5x2", "test_size": 0.25, "stratify": True},
}
FOLDS = {"holdout": 1, "holdout_plain": 1, "kfold": 4, "kfold_plain": 3, "repeated_kfold": 9, "cv5x2": 10}
# how many folds make one complete pass over the pool (their validation sets partition it)
PASS = {"holdout": None, "holdout_plain": None, "kfold": 4, "kfold_plain": 3, "repeated_kfold": 3, "cv5x2": 2}

Y = np.repeat(np.arange(4), [30, 25, 25, 20])  # 100 samples, imbalanced


def splits_for(key: str, seed: int = 0, y=Y, fixed_test=None) -> Splits:
    return make_splits(OmegaConf.create(STRATEGIES[key]), y, seed, fixed_test=fixed_test)


def test_every_strategy_is_covered():
    from kopt.paths import config_groups

    covered = {c["name"] for c in STRATEGIES.values()} | {"group_kfold", "time"}  # test_group_time_splits.py
    assert set(config_groups()["split"]) == set(SPLITTERS) == covered


@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_folds_are_disjoint_cover_the_pool_and_never_touch_the_test_set(key):
    splits = splits_for(key)
    pool = np.setdiff1d(np.arange(len(Y)), splits.test)
    assert len(splits.test) == round(STRATEGIES[key]["test_size"] * len(Y))
    assert len(splits.folds) == FOLDS[key]
    for train, val in splits.folds:
        assert len(np.intersect1d(train, val)) == 0
        assert np.array_equal(np.sort(np.concatenate([train, val])), pool)
        assert len(np.intersect1d(train, splits.test)) == 0 and len(np.intersect1d(val, splits.test)) == 0
    if PASS[key]:
        for start in range(0, len(splits.folds), PASS[key]):
            vals = [val for _, val in splits.folds[start : start + PASS[key]]]
            assert np.array_equal(np.sort(np.concatenate(vals)), pool)  # each sample validated once per pass


@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_assignment_depends_only_on_the_seed(key):
    a, b, c = splits_for(key, 0), splits_for(key, 0), splits_for(key, 1)
    assert np.array_equal(a.test, b.test)
    assert all(np.array_equal(x, y) for fa, fb in zip(a.folds, b.folds) for x, y in zip(fa, fb))
    assert not np.array_equal(a.test, c.test) or not np.array_equal(a.folds[0][1], c.folds[0][1])


@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_get_n_splits_is_the_number_of_folds_split_yields(key):
    cfg = OmegaConf.create(STRATEGIES[key])
    splitter = SPLITTERS[cfg.name](cfg, 0)
    assert splitter.get_n_splits() == len(list(splitter.split(np.zeros(len(Y)), Y))) == FOLDS[key]


def _folds_before_the_wrap(key: str, y: np.ndarray, seed: int) -> list:
    """The folds kopt's own splitters made before they wrapped scikit-learn's (saved runs hold these)."""
    from sklearn.model_selection import KFold, RepeatedStratifiedKFold, StratifiedKFold, train_test_split

    cfg, X = STRATEGIES[key], np.zeros(len(y))
    if cfg["name"] == "holdout":
        train, val = train_test_split(
            np.arange(len(y)), test_size=cfg["val_size"], random_state=seed, stratify=y if cfg["stratify"] else None
        )
        return [(np.sort(train), np.sort(val))]
    if cfg["name"] == "kfold":
        cls = StratifiedKFold if cfg["stratify"] else KFold
        return list(cls(n_splits=cfg["k"], shuffle=True, random_state=seed).split(X, y))
    k, repeats = (2, 5) if cfg["name"] == "cv5x2" else (cfg["k"], cfg["repeats"])
    return list(RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed).split(X, y))


@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_the_folds_are_the_ones_saved_runs_hold(key):
    """A resumed run recomputes its folds and refuses to go on when they differ from splits.npz."""
    y = np.repeat(np.arange(3), [41, 33, 27])
    for seed in (0, 1, 7, 123):
        cfg = OmegaConf.create(STRATEGIES[key])
        got = list(SPLITTERS[cfg.name](cfg, seed).split(np.zeros(len(y)), y))
        want = _folds_before_the_wrap(key, y, seed)
        assert len(got) == len(want)
        assert all(np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(got, want))


@pytest.mark.parametrize("key", ["repeated_kfold", "cv5x2"])
def test_repetitions_shuffle_differently(key):
    splits = splits_for(key)
    assert not np.array_equal(splits.folds[0][1], splits.folds[PASS[key]][1])


def test_stratified_folds_keep_class_shares():
    for _train, val in splits_for("kfold").folds:
        shares = np.bincount(Y[val], minlength=4) / len(val)
        assert np.allclose(shares, np.bincount(Y) / len(Y), atol=0.06)


@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_a_fixed_test_set_is_kept_apart(key):
    fixed = np.arange(0, 100, 5)  # 20 samples, every class
    splits = splits_for(key, fixed_test=fixed)
    assert np.array_equal(splits.test, fixed)
    pool = np.setdiff1d(np.arange(100), fixed)
    for train, val in splits.folds:
        assert np.array_equal(np.sort(np.concatenate([train, val])), pool)


def test_save_and_load_round_trip(tmp_path):
    splits = splits_for("cv5x2")
    splits.save(tmp_path / "splits.npz")
    loaded = Splits.load(tmp_path / "splits.npz")
    assert np.array_equal(loaded.test, splits.test) and len(loaded.folds) == 10
    assert all(np.array_equal(x, y) for fa, fb in zip(loaded.folds, splits.folds) for x, y in zip(fa, fb))


@pytest.mark.parametrize(
    "key, needle",
    [
        ("kfold", "split.k=4: class 3 has only 3"),
        ("cv5x2", "split=cv5x2: class 3 has only 1"),
        ("holdout", "split=holdout: class 3 has only 1"),
    ],
)
def test_too_few_samples_per_class(key, needle):
    y = np.repeat(np.arange(4), [30, 25, 25, 3 if key == "kfold" else 1])
    with pytest.raises(KoptError) as err:
        splits_for(key, y=y, fixed_test=np.arange(0, 80, 8))  # classes 0-2 only: class 3 stays in the pool
    assert needle in str(err.value)


def test_validation_share_smaller_than_the_classes_is_a_clean_error():
    cfg = OmegaConf.create({**STRATEGIES["holdout"], "val_size": 0.02})
    with pytest.raises(KoptError, match="split=holdout"):
        make_splits(cfg, Y, 0)


def test_digits_cv5x2_light_end_to_end(tmp_path):
    args = [
        "dataset=digits",
        "dataset.limit=300",
        "split=cv5x2",
        "augment=light",
        "model.width=4",
        "model.depth=1",
        "model.convs_per_block=1",
        "model.dense=0",
        "trainer.epochs=1",
        "trainer.checkpoint=false",
    ]
    proc = run_kopt("train", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run_dir(tmp_path)
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and len(summary["folds"]) == 10
    # the saved assignment is the one the config and seed define, so two runs can be paired
    from kopt.data.datasets import load_dataset

    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset, int(cfg.seed))
    expected, saved = make_splits(cfg.split, data.y, int(cfg.seed)), Splits.load(run_dir / "splits.npz")
    assert np.array_equal(saved.test, expected.test)
    assert all(np.array_equal(x, y) for fa, fb in zip(saved.folds, expected.folds) for x, y in zip(fa, fb))


def test_a_resume_refuses_folds_that_differ_from_the_saved_ones(tmp_path):
    from kopt.training.run import _check_same_splits

    path = tmp_path / "splits.npz"
    splits_for("kfold").save(path)
    _check_same_splits(splits_for("kfold"), path)  # the same folds: the run continues
    with pytest.raises(KoptError, match="saved splits differ"):
        _check_same_splits(splits_for("kfold", seed=1), path)


@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_the_splitter_takes_its_typed_schema_object_as_models_and_datasets_do(key):
    """make_splits receives the typed split config (a raw node is checked and typed first): both
    give the same folds, unstratified (a regression's splits) too; a raw node out of range is one
    KoptError."""
    from kopt.validate import typed_option

    node = OmegaConf.create(STRATEGIES[key])
    typed = typed_option("split", node)
    assert type(typed).__name__.endswith("Config") and typed.test_size == STRATEGIES[key]["test_size"]
    for stratify in (True, False):
        a, b = make_splits(typed, Y, 3, stratify=stratify), make_splits(node, Y, 3, stratify=stratify)
        assert np.array_equal(a.test, b.test) and len(a.folds) == len(b.folds) == FOLDS[key]
        assert all(np.array_equal(x, z) and np.array_equal(v, w) for (x, v), (z, w) in zip(a.folds, b.folds))
    with pytest.raises(KoptError, match=r"split\.test_size=1\.5 is out of range"):
        make_splits(OmegaConf.create({**STRATEGIES[key], "test_size": 1.5}), Y, 0)
