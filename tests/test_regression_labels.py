"""Labels that look like a regression target (many integer values, too few rows each to stratify)
are refused in one line before any run dir is made, pointing to dataset.task=regression; a
classification whose split cannot stratify is refused before any run dir too, in the usual words."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_clean_error, run_kopt

MLP = ["model=mlp", "model.width=8", "model.depth=1", "trainer.epochs=1"]


def write_csv(path, labels, name="age"):
    rng = np.random.default_rng(0)
    with open(path, "w") as fh:
        fh.write(f"a,b,{name}\n")
        for label in labels:
            fh.write(f"{rng.normal():.3f},{rng.normal():.3f},{label}\n")


def ages(n=120):
    return np.random.default_rng(0).integers(20, 70, n)  # 46 distinct values, 1 to 5 rows each


def test_an_integer_regression_target_in_a_csv_is_refused_before_any_run_dir(tmp_path):
    write_csv(tmp_path / "ages.csv", ages())
    proc = run_kopt("train", "dataset=csv", "dataset.path=ages.csv", "dataset.label=age", *MLP, cwd=tmp_path)
    assert_clean_error(proc, "dataset.label='age'", "regression target", "dataset.task=regression", "46 distinct")
    assert "regression tasks" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_an_integer_regression_target_in_an_npz_is_refused_before_any_run_dir(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ages.npz", x_train=rng.normal(size=(120, 3)).astype("float32"), y_train=ages())
    proc = run_kopt("train", "dataset=npz", "dataset.path=ages.npz", *MLP, cwd=tmp_path)
    assert_clean_error(proc, "dataset.path=ages.npz", "y_train", "regression target", "dataset.task=regression")
    assert not (tmp_path / "runs").exists()


def test_a_classification_the_split_cannot_stratify_is_refused_before_any_run_dir(tmp_path):
    write_csv(tmp_path / "few.csv", ["cat"] * 30 + ["dog"] * 30 + ["emu"], name="animal")
    proc = run_kopt("train", "dataset=csv", "dataset.path=few.csv", "dataset.label=animal", *MLP, cwd=tmp_path)
    assert_clean_error(proc, "split")
    assert "regression" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_the_rule(tmp_path):
    from omegaconf import OmegaConf

    from kopt.data.base import Data
    from kopt.data.labels import check_stratifiable
    from kopt.errors import KoptError

    holdout = OmegaConf.create({"name": "holdout", "test_size": 0.2, "val_size": 0.2, "stratify": True})
    kfold = OmegaConf.create({"name": "kfold", "test_size": 0.2, "k": 5, "stratify": True, "shuffle": True})
    x = np.zeros((240, 2), "float32")

    def data(y, names=None):
        y = np.asarray(y, "int64")
        return Data(x[: len(y)], y, "csv", "tabular", names or [str(v) for v in range(int(y.max()) + 1)])

    many = data(np.arange(240) % 12)  # 12 integer classes, 20 rows each: a classification
    check_stratifiable(many, holdout, 0, "dataset.label='k'")
    check_stratifiable(many, kfold, 0, "dataset.label='k'")
    sparse = np.arange(240) % 12
    sparse[0] = 12  # one class of one row among 13 integer values: too few to stratify, many values
    with pytest.raises(KoptError, match="regression target"):
        check_stratifiable(data(sparse), holdout, 0, "dataset.label='k'")
    few = np.arange(240) % 3
    few[0] = 3  # 4 classes, one with a single row: not regression-like, the split's own words
    with pytest.raises(KoptError) as caught:
        check_stratifiable(data(few), holdout, 0, "dataset.label='k'")
    assert "regression" not in str(caught.value)
    text = data(sparse, [f"c{v}" for v in range(13)])  # text labels are classes, however many
    with pytest.raises(KoptError) as caught:
        check_stratifiable(text, holdout, 0, "dataset.label='k'")
    assert "regression" not in str(caught.value)
