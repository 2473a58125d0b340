"""dataset=table: CSV, TSV and Parquet read with pandas; text columns one-hot encoded with the
encoding saved in the run dir (table.json) and applied by kopt predict; features chosen by
dataset.features or dataset.drop; missing values refused or imputed outside the test set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT, assert_clean_error, only_run_dir, read_summary, run_kopt
from omegaconf import OmegaConf

from kopt.data.datasets import load_dataset
from kopt.errors import KoptError

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

MLP = ["model=mlp", "model.width=8", "model.depth=1", "trainer.epochs=2", "trainer.batch_size=16"]
COLORS = np.array(["red", "green", "blue"])


def frame(n: int = 90, seed: int = 0):
    """id (text), a and b (numbers), color (text) and kind (the label, text)."""
    rng = np.random.default_rng(seed)
    k = np.arange(n) % 3
    return pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "a": rng.normal(size=n) + k,
            "color": COLORS[(k + (rng.random(n) < 0.2)) % 3],
            "b": rng.normal(size=n) - k,
            "kind": np.array(["x", "y", "z"])[k],
        }
    )


def load(seed: int = 0, **options):
    node = OmegaConf.load(ROOT / "configs" / "dataset" / "table.yaml")
    return load_dataset(OmegaConf.merge(node, options), seed)


def _predict(*argv):
    from kopt.commands.predict import main

    main([str(a) for a in argv])


def _probs(path):
    out = pd.read_csv(path)
    return out, out[[c for c in out.columns if c.startswith("prob_")]].to_numpy()


@pytest.fixture(scope="module")
def parquet_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    table = frame()
    table.to_parquet(root / "train.parquet")
    proc = run_kopt(
        "train", "dataset=table", "dataset.path=train.parquet", "dataset.label=kind", "dataset.drop=[id]", *MLP,
        cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root, only_run_dir(root), table


def test_a_parquet_table_with_a_text_column_trains_with_its_encoding_saved(parquet_run):
    root, run, table = parquet_run
    encoding = json.loads((run / "table.json").read_text())
    assert encoding["inputs"] == ["a", "color=blue", "color=green", "color=red", "b"]
    assert [c["name"] for c in encoding["columns"]] == ["a", "color", "b"]
    assert encoding["columns"][1] == {"name": "color", "type": "category", "categories": ["blue", "green", "red"]}
    summary = read_summary(run)
    assert summary["status"] == "completed" and summary["data"]["input_shape"] == [5]
    assert summary["data"]["class_names"] == ["x", "y", "z"]


def test_predict_reads_new_parquet_and_csv_rows_with_the_saved_encoding(parquet_run, tmp_path):
    root, run, table = parquet_run
    with np.load(run / "predictions.npz") as z:
        test_idx, saved = z["test_idx"], z["probs"]
    rows = table.iloc[test_idx][["kind", "b", "color", "a", "id"]]  # other column order, the label kept
    rows.to_parquet(tmp_path / "new.parquet")
    rows.to_csv(tmp_path / "new.csv", index=False)
    _predict(run, tmp_path / "new.parquet", "--out", tmp_path / "p.csv")
    _predict(run, tmp_path / "new.csv", "--out", tmp_path / "c.csv")
    (out_p, probs_p), (_, probs_c) = _probs(tmp_path / "p.csv"), _probs(tmp_path / "c.csv")
    assert np.abs(probs_p - saved).max() < 1e-4  # the run's own test predictions, reproduced
    assert np.array_equal(probs_p, probs_c)
    assert out_p["id"].tolist() == rows["id"].tolist() and out_p["label"].tolist() == rows["kind"].tolist()
    unseen = rows.head(2).assign(color=["purple", "red"])  # an unseen category: all its inputs zero
    unseen.to_parquet(tmp_path / "unseen.parquet")
    _predict(run, tmp_path / "unseen.parquet", "--out", tmp_path / "u.csv")
    assert np.all(np.isfinite(_probs(tmp_path / "u.csv")[1]))
    with pytest.raises(KoptError, match=r"training table's \(a, color, b\): missing color"):
        rows.drop(columns=["color"]).to_parquet(tmp_path / "bad.parquet")
        _predict(run, tmp_path / "bad.parquet", "--out", tmp_path / "x.csv")


def test_an_id_column_is_left_out_with_drop_and_features_chooses_the_inputs(tmp_path):
    frame().to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(
        KoptError,
        match=r"column 'id' has a different text in every row \(an id\?\); leave it out with dataset.drop=\[id\]",
    ):
        load(path=str(tmp_path / "t.csv"), label="kind")
    data = load(path=str(tmp_path / "t.csv"), label="kind", drop=["id"])
    assert data.encoding["inputs"] == ["a", "color=blue", "color=green", "color=red", "b"]
    assert data.x.shape == (90, 5) and data.x[0, 0] == pytest.approx(frame()["a"][0])
    data = load(path=str(tmp_path / "t.csv"), label="kind", features=["b", "a"])
    assert data.encoding["inputs"] == ["b", "a"] and data.x.shape == (90, 2)
    table = frame().assign(kind2=frame()["kind"])  # a second label column is a feature unless left out
    table.to_csv(tmp_path / "two.csv", index=False)
    assert "kind2=x" in load(path=str(tmp_path / "two.csv"), label="kind", drop=["id"]).encoding["inputs"]
    assert "kind2=x" not in load(path=str(tmp_path / "two.csv"), label="kind", drop=["id", "kind2"]).encoding["inputs"]
    with pytest.raises(KoptError, match=r"dataset.drop: 'nope' is not a column"):
        load(path=str(tmp_path / "t.csv"), label="kind", drop=["nope"])
    with pytest.raises(KoptError, match=r"dataset.features: 'kind' is the label"):
        load(path=str(tmp_path / "t.csv"), label="kind", features=["kind", "a"])


def test_tsv_is_read_by_its_suffix_as_the_same_table(tmp_path):
    frame().to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame().to_csv(tmp_path / "t.csv", index=False)
    tsv = load(path=str(tmp_path / "t.tsv"), label="kind", drop=["id"])
    csv = load(path=str(tmp_path / "t.csv"), label="kind", drop=["id"])
    assert np.array_equal(tsv.x, csv.x) and np.array_equal(tsv.y, csv.y)


def test_missing_values_are_refused_naming_the_column(tmp_path):
    table = frame()
    table.loc[5, "b"] = np.nan
    table.to_parquet(tmp_path / "t.parquet")
    proc = run_kopt(
        "train", "dataset=table", "dataset.path=t.parquet", "dataset.label=kind", "dataset.drop=[id]", *MLP,
        cwd=tmp_path,
    )  # fmt: skip
    assert_clean_error(proc, "column 'b' has 1 missing value(s)", "row 5", "dataset.impute=mean|median")
    assert not (tmp_path / "runs").exists()


def test_impute_fills_missing_numbers_with_the_mean_of_the_rows_outside_the_test_set(tmp_path, monkeypatch):
    from kopt.data.splits import test_split

    table = frame()
    expected_test = test_split(np.arange(90) % 3, 0.2, 0)[1]  # the split's test rows (labels x, y, z -> 0, 1, 2)
    missing = [3, int(expected_test[0]), 77]  # one missing number in a test row, two in the pool
    assert 3 not in expected_test and 77 not in expected_test
    table.loc[missing, "a"] = np.nan
    table.to_csv(tmp_path / "t.csv", index=False)
    proc = run_kopt(
        "train", "dataset=csv", "dataset.path=t.csv", "dataset.label=kind", "dataset.drop=[id]",
        "dataset.impute=mean", *MLP, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    with np.load(run / "splits.npz") as z:
        test = z["test"]
    assert np.array_equal(test, expected_test)
    train_rows = np.setdiff1d(np.arange(90), test)
    expected = np.nanmean(table["a"].to_numpy()[train_rows])
    assert expected != pytest.approx(np.nanmean(table["a"].to_numpy()))  # the test rows would change it
    fill = json.loads((run / "table.json").read_text())["fill"]
    assert list(fill) == ["a"] and fill["a"] == pytest.approx(expected, rel=1e-6)
    rows = table.iloc[[3, 3]].copy()
    rows.loc[:, "a"] = [np.nan, fill["a"]]  # a missing number in a new row takes the same value
    rows.to_csv(tmp_path / "new.csv", index=False)
    _predict(run, tmp_path / "new.csv", "--out", tmp_path / "out.csv")
    probs = _probs(tmp_path / "out.csv")[1]
    assert np.array_equal(probs[0], probs[1])
    monkeypatch.chdir(tmp_path)  # the run's dataset.path is relative: its own test set, filled as in training
    _predict(run, "dataset=csv", "--out", tmp_path / "own.csv")
    with np.load(run / "predictions.npz") as z:
        assert np.abs(_probs(tmp_path / "own.csv")[1] - z["probs"]).max() < 1e-4
