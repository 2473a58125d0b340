"""dataset=table: CSV, TSV and Parquet read with pandas; text columns one-hot encoded with the
encoding saved in the run dir (table.json) and applied by kopt predict; features chosen by
dataset.features or dataset.drop; missing values refused or imputed from each fold's training rows."""

from __future__ import annotations

import importlib.util
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


def _splits_before(split: str, y, **keys):
    """The splits kopt will make (they depend on the labels and the seed only), known before the run."""
    from kopt.data.splits import make_splits

    cfg = OmegaConf.merge(OmegaConf.load(ROOT / "configs" / "split" / f"{split}.yaml"), keys)
    return make_splits(cfg, np.asarray(y), 0)


def _imputed_table(holes: dict[str, list[int]], extreme: list[int]):
    """frame() with column a 40 higher in the ``extreme`` rows and NaN at ``holes`` (column -> rows)."""
    table = frame()
    table.loc[extreme, "a"] = table.loc[extreme, "a"] + 40.0
    for column, rows in holes.items():
        table.loc[rows, column] = np.nan
    return table


def _hand_filled(rows, fill: dict):
    """The model's inputs of ``rows``, their missing numbers filled by hand with ``fill``."""
    x = rows.drop(columns=["id", "kind"]).fillna(fill)
    for color in ("blue", "green", "red"):
        x[f"color={color}"] = (x["color"] == color).astype("float64")
    return x[["a", "color=blue", "color=green", "color=red", "b"]].to_numpy("float32")


def _keras_probs(path, x):
    import keras

    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    return np.asarray(model.predict(np.asarray(x, "float32"), verbose=0))


def test_holdout_imputes_with_the_median_of_its_training_rows_only(tmp_path, monkeypatch):
    """The fold's fill comes from its training rows (as Pipeline(SimpleImputer, model) in
    cross_val_score): the validation rows (extreme values here) and the test rows never inform it;
    the test rows and new rows are filled with the values of the model that predicts them."""
    splits = _splits_before("holdout", np.arange(90) % 3)
    (train, val), test = splits.folds[0], splits.test
    holes = {"a": [int(train[0]), int(train[1]), int(val[0]), int(test[0])], "b": [int(test[1]), int(val[1])]}
    table = _imputed_table(holes, extreme=[int(v) for v in val[2:]])
    table.to_csv(tmp_path / "t.csv", index=False)
    proc = run_kopt(
        "train", "dataset=csv", "dataset.path=t.csv", "dataset.label=kind", "dataset.drop=[id]",
        "dataset.impute=median", "split=holdout", *MLP, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    with np.load(run / "splits.npz") as z:
        assert np.array_equal(z["test"], test) and np.array_equal(z["train_0"], train)
        assert np.array_equal(z["val_0"], val)
    fill = json.loads((run / "table.json").read_text())["fill"]
    raw = {c: table[c].to_numpy("float64") for c in ("a", "b")}
    assert isinstance(fill, list) and len(fill) == 1 and set(fill[0]) == {"a", "b"}  # every number input
    for c in ("a", "b"):
        assert fill[0][c] == pytest.approx(np.nanmedian(raw[c][train]), rel=1e-6)
    pool = np.concatenate([train, val])
    assert abs(np.nanmedian(raw["a"][pool]) - fill[0]["a"]) > 0.05  # the validation rows would move it
    # the test rows are filled with the fold's values: predictions.npz is model.keras on hand-filled rows
    with np.load(run / "predictions.npz") as z:
        assert (
            np.abs(_keras_probs(run / "model.keras", _hand_filled(table.iloc[test], fill[0])) - z["probs"]).max() < 1e-5
        )
    # new rows with missing numbers (in a, in b, in both): kopt predict fills them with the saved values
    rows = frame().iloc[[3, 4, 5, 3, 4, 5]].reset_index(drop=True)
    rows.loc[[0, 2], "a"] = np.nan
    rows.loc[[1, 2], "b"] = np.nan
    rows.to_parquet(tmp_path / "new.parquet")
    _predict(run, tmp_path / "new.parquet", "--out", tmp_path / "out.csv")
    probs = _probs(tmp_path / "out.csv")[1]
    assert np.abs(probs - _keras_probs(run / "model.keras", _hand_filled(rows, fill[0]))).max() < 1e-5
    assert np.abs(probs[:3] - probs[3:]).max() > 1e-4  # (the rows with holes are not the complete ones)
    monkeypatch.chdir(tmp_path)  # the run's dataset.path is relative: its own test set, filled as in training
    _predict(run, "dataset=csv", "--out", tmp_path / "own.csv")
    with np.load(run / "predictions.npz") as z:
        assert np.abs(_probs(tmp_path / "own.csv")[1] - z["probs"]).max() < 1e-4


def test_kfold_imputes_each_fold_with_the_mean_of_its_own_training_rows(tmp_path):
    """k-fold: fold i's fill is the mean of fold i's training rows (never of its validation rows,
    extreme in fold 0); kopt predict averages the fold models, each filling new rows with its own values."""
    splits = _splits_before("kfold", np.arange(90) % 3, k=3)
    test, val0 = splits.test, splits.folds[0][1]
    holes = {"a": [int(val0[0]), int(splits.folds[1][1][0]), int(splits.folds[2][1][0]), int(test[0])]}
    table = _imputed_table(holes, extreme=[int(v) for v in val0[1:]])
    table.to_parquet(tmp_path / "t.parquet")
    proc = run_kopt(
        "train", "dataset=table", "dataset.path=t.parquet", "dataset.label=kind", "dataset.drop=[id]",
        "dataset.impute=mean", "split=kfold", "split.k=3", *MLP, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    fill = json.loads((run / "table.json").read_text())["fill"]
    a, b = table["a"].to_numpy("float64"), table["b"].to_numpy("float64")
    assert isinstance(fill, list) and len(fill) == 3
    with np.load(run / "splits.npz") as z:
        assert np.array_equal(z["test"], test)
        for i in range(3):
            train, val = z[f"train_{i}"], z[f"val_{i}"]
            assert np.array_equal(train, splits.folds[i][0]) and np.array_equal(val, splits.folds[i][1])
            assert fill[i]["a"] == pytest.approx(np.nanmean(a[train]), rel=1e-6)
            assert fill[i]["b"] == pytest.approx(b[train].mean(), rel=1e-6)
    pool = np.setdiff1d(np.arange(90), test)
    assert fill[0]["a"] < 2 < 5 < min(fill[1]["a"], fill[2]["a"])  # fold 0 never saw its extreme rows
    assert abs(fill[0]["a"] - np.nanmean(a[pool])) > 3
    rows = frame().iloc[[3, 4, 5]].reset_index(drop=True)
    rows["a"] = np.nan  # every row misses a: each fold model fills it with its own mean
    rows.to_csv(tmp_path / "new.csv", index=False)
    _predict(run, tmp_path / "new.csv", "--out", tmp_path / "out.csv")
    probs = _probs(tmp_path / "out.csv")[1]
    per_fold = [_keras_probs(run / f"model_fold{i}.keras", _hand_filled(rows, fill[i])) for i in range(3)]
    assert np.abs(probs - np.mean(per_fold, axis=0)).max() < 1e-5
    pooled = {"a": np.nanmean(a[pool])}  # what one fill fitted on the whole pool would give
    one = np.mean([_keras_probs(run / f"model_fold{i}.keras", _hand_filled(rows, pooled)) for i in range(3)], axis=0)
    assert np.abs(probs - one).max() > 1e-4
    # kopt export: one model (the fold models averaged), each member filling NaN with its own values
    from kopt.commands.export import main as export

    fmt = "onnx" if all(importlib.util.find_spec(m) for m in ("tf2onnx", "onnxruntime")) else "keras"
    export([str(run), "--format", fmt, "--out", str(tmp_path / "export")])
    x = _hand_filled(rows, {})  # a: NaN in every row
    assert np.isnan(x[:, 0]).all()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(tmp_path / "export" / "model.onnx"))
        exported = session.run(None, {session.get_inputs()[0].name: x})[0]
    else:
        exported = _keras_probs(tmp_path / "export" / "model.keras", x)
    assert np.abs(exported - probs).max() < 1e-4


def test_a_column_with_no_value_in_a_folds_training_rows_is_one_line_naming_it(tmp_path):
    from kopt.data.table import fold_fills

    table = frame()
    table.loc[:44, "b"] = np.nan  # every value of b in the first half is missing
    table.to_parquet(tmp_path / "t.parquet")
    data = load(path=str(tmp_path / "t.parquet"), label="kind", drop=["id"], impute="mean")
    first, second = np.arange(45), np.arange(45, 90)
    fills = fold_fills(data, [(second, first)]).encoding["fill"]
    assert fills[0]["b"] == pytest.approx(table["b"].to_numpy("float64")[second].mean(), rel=1e-6)
    with pytest.raises(KoptError, match=r"^dataset.impute=mean: column 'b' has no value in fold 1's training rows; "):
        fold_fills(data, [(second, first), (first, second)])
