"""kopt.predict.inputs' array checks, line by line, in process and without TensorFlow (`make mutants`):
fit_to_model, the labels, and .npy/.npz inputs. tests/test_predict_*.py run kopt predict whole."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from kopt.errors import KoptError
from kopt.predict import inputs

SOURCE = SimpleNamespace(class_names=["cat", "dog", "owl"])


def fails(message, fn, *args):
    with pytest.raises(KoptError) as err:
        fn(*args)
    assert str(err.value) == message


def test_fit_to_model_casts_to_float32_and_batches_a_single_example():
    x = inputs.fit_to_model(np.array([[1, 2], [3, 4]], "int64"), (2,), "X")
    assert x.dtype == np.float32 and x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    one = inputs.fit_to_model(np.array([1.5, 2.5]), (2,), "X")
    assert one.shape == (1, 2) and one.tolist() == [[1.5, 2.5]]
    grey = inputs.fit_to_model(np.zeros((3, 4, 4), "uint8"), (4, 4, 1), "X")
    assert grey.shape == (3, 4, 4, 1)
    single_grey = inputs.fit_to_model(np.zeros((4, 4, 1)), (4, 4, 1), "X")
    assert single_grey.shape == (1, 4, 4, 1)
    assert inputs.fit_to_model(np.array([[True, False]]), (2,), "X").tolist() == [[1.0, 0.0]]
    rgb = inputs.fit_to_model(np.ones((2, 4, 4, 3)), (4, 4, 3), "X")
    assert rgb.shape == (2, 4, 4, 3)


def test_fit_to_model_names_what_differs():
    fails("X: values have dtype <U1; expected numbers", inputs.fit_to_model, np.array([["a", "b"]]), (2,), "X")
    fails(
        "X: values have dtype complex128; expected real numbers",
        inputs.fit_to_model,
        np.array([[1 + 1j, 2]]),
        (2,),
        "X",
    )
    fails("X: images have 3 channel(s); the model takes 1", inputs.fit_to_model, np.zeros((2, 4, 4, 3)), (4, 4, 1), "X")
    fails("X: 3 features per example; the model takes 2", inputs.fit_to_model, np.zeros((5, 3)), (2,), "X")
    fails(
        "X: examples have shape (5, 4, 1); the model takes (4, 4, 1)",
        inputs.fit_to_model,
        np.zeros((2, 5, 4, 1)),
        (4, 4, 1),
        "X",
    )
    fails("X: examples have shape (3, 2); the model takes (2,)", inputs.fit_to_model, np.zeros((1, 3, 2)), (2,), "X")
    fails(
        "X: examples have shape (4, 4); the model takes (4, 4, 3)",
        inputs.fit_to_model,
        np.zeros((2, 4, 4)),
        (4, 4, 3),
        "X",
    )
    fails("X: no examples", inputs.fit_to_model, np.zeros((0, 2)), (2,), "X")


def test_fit_to_model_refuses_values_that_are_not_finite_as_float32():
    x = np.zeros((4, 2))
    x[2, 1] = np.nan
    x[3, 0] = 1e39  # finite as float64, inf as float32
    fails("X: 2 example(s) have NaN/inf values as float32 (first: 2)", inputs.fit_to_model, x, (2,), "X")
    x = np.zeros((3, 2))
    x[1, 0] = -np.inf
    fails("X: 1 example(s) have NaN/inf values as float32 (first: 1)", inputs.fit_to_model, x, (2,), "X")


def test_fit_to_model_passes_nan_to_a_model_that_imputes_but_never_inf():
    x = np.zeros((4, 2))
    x[2, 1] = np.nan  # a missing number: the model (dataset.impute) fills it
    out = inputs.fit_to_model(x, (2,), "X", missing_ok=True)
    assert np.isnan(out[2, 1]) and np.isfinite(np.delete(out.ravel(), 5)).all()
    x[3, 0] = 1e39  # inf as float32: never a missing value
    fails("X: 1 example(s) have NaN/inf values as float32 (first: 3)", inputs.fit_to_model, x, (2,), "X", True)


def test_labels_are_indices_or_class_names():
    classes = SOURCE.class_names
    assert inputs._labels(np.array([2, 0, 1], "int32"), classes, "Y").tolist() == [2, 0, 1]
    assert inputs._labels(np.array([[1], [2]]), classes, "Y").tolist() == [1, 2]
    assert inputs._labels(np.array(["owl", "cat"]), classes, "Y").tolist() == [2, 0]
    assert inputs._labels(np.array([], "int64"), classes, "Y").tolist() == []
    assert inputs._labels(np.array([2, 0]), classes, "Y").dtype == np.int64
    assert inputs._labels(np.array(["dog"]), classes, "Y").dtype == np.int64
    fails("Y: a 0-d array; give one label per example", inputs._labels, np.array(1), classes, "Y")
    fails(
        "Y: label 'cow' is not a class of the model; allowed: cat, dog, owl",
        inputs._labels,
        np.array(["emu", "cow", "cat"]),
        classes,
        "Y",
    )
    bad = "Y: labels must be class indices 0 .. 2 or class names"
    fails(bad, inputs._labels, np.array([0, 3]), classes, "Y")
    fails(bad, inputs._labels, np.array([-1, 0]), classes, "Y")
    fails(bad, inputs._labels, np.array([[0, 1], [1, 2]]), classes, "Y")
    assert inputs._labels(np.array([0, 2]), classes, "Y").tolist() == [0, 2]


def test_an_npy_input_is_its_rows(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(6, dtype="float64").reshape(3, 2))
    got = inputs._from_arrays(path, SOURCE, (2,))
    assert (got.x.tolist(), got.ids, got.y, got.what) == (
        [[0, 1], [2, 3], [4, 5]],
        ["0", "1", "2"],
        None,
        f"INPUT {path}",
    )
    np.save(path, np.array([1.0, 2.0]))  # one example
    assert inputs._from_arrays(path, SOURCE, (2,)).ids == ["0", "1"]  # (np.atleast_1d of the raw array)
    path.write_bytes(b"not an npy")
    with pytest.raises(KoptError) as err:
        inputs._from_arrays(path, SOURCE, (2,))
    assert str(err.value).startswith(f"INPUT {path}")


def test_an_npz_input_with_labels_and_ids(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(
        path, x_test=np.zeros((2, 2)), y_test=np.array(["dog", "owl"]), ids=np.array(["a", "b"]), x_other=np.ones(1)
    )
    got = inputs._from_arrays(path, SOURCE, (2,))
    assert (got.ids, got.y.tolist(), got.what) == (["a", "b"], [1, 2], f"INPUT {path}")
    np.savez(path, x=np.zeros((2, 2)), y=np.array([0, 2]), x_test=np.ones((5, 2)))
    got = inputs._from_arrays(path, SOURCE, (2,))  # x comes first
    assert (got.x.tolist(), got.ids, got.y.tolist()) == ([[0, 0], [0, 0]], ["0", "1"], [0, 2])
    np.savez(path, features=np.ones((3, 2)), y=np.array([0, 1, 2]))
    fails(f"INPUT {path}: no array x or x_test; found features, y", inputs._from_arrays, path, SOURCE, (2,))
    np.savez(path, features=np.ones((3, 2)))  # one array: taken whatever its name, no labels
    got = inputs._from_arrays(path, SOURCE, (2,))
    assert (got.x.shape, got.y, got.ids) == ((3, 2), None, ["0", "1", "2"])
    np.savez(path)
    fails(f"INPUT {path}: no array x or x_test; found none", inputs._from_arrays, path, SOURCE, (2,))


def test_an_npz_input_whose_parts_disagree(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, x=np.zeros((2, 2)), ids=np.array([["a"], ["b"]]))
    fails(f"INPUT {path}[ids]: a 2-d array; give one id per example", inputs._from_arrays, path, SOURCE, (2,))
    np.savez(path, x=np.zeros((2, 2)), ids=np.array(["a"]))
    fails(f"INPUT {path}: 1 ids for 2 examples; they must match", inputs._from_arrays, path, SOURCE, (2,))
    np.savez(path, x=np.zeros((2, 2)), y=np.array([0, 1, 2]))
    fails(f"INPUT {path}: 3 y for 2 examples; they must match", inputs._from_arrays, path, SOURCE, (2,))
    np.savez(path, x=np.zeros((2, 3)))
    fails(f"INPUT {path}[x]: 3 features per example; the model takes 2", inputs._from_arrays, path, SOURCE, (2,))
    np.savez(path, x_test=np.zeros((1, 2)), y_test=np.array([7]))
    fails(
        f"INPUT {path}[y_test]: labels must be class indices 0 .. 2 or class names",
        inputs._from_arrays,
        path,
        SOURCE,
        (2,),
    )
    path.write_bytes(b"PK not a zip")
    with pytest.raises(KoptError) as err:
        inputs._from_arrays(path, SOURCE, (2,))
    assert str(err.value).startswith(f"INPUT {path}: not a readable .npz file (")
    assert f"({path}: " not in str(err.value)


def csv_source(tmp_path, header="a,b,target", delimiter=","):
    train = tmp_path / "train.csv"
    train.write_text(header + "\n")
    config = {"dataset": {"name": "csv", "path": str(train), "label": "target", "delimiter": delimiter}}
    return SimpleNamespace(class_names=["no", "yes"], run=SimpleNamespace(config=config))


def test_short_names_and_column_matching():
    assert inputs._short("Sepal Length (cm)") == "sepal_length"
    assert inputs._short("  mean-radius!! ") == "mean_radius"
    assert inputs._match_columns(["b", "a"], ["a", "b"]) == ["a", "b"]
    assert inputs._match_columns(["B (m)", "A"], ["a", "b"]) == ["A", "B (m)"]
    assert inputs._match_columns(["a", "A"], ["a", "b"]) is None  # ambiguous once shortened
    assert inputs._match_columns(["a", "c"], ["a", "b"]) is None
    assert inputs._match_columns(["a", "b", "c"], ["a", "b"]) is None


def test_training_columns(tmp_path):
    src = csv_source(tmp_path, header=" a , b ,target")
    assert inputs._training_columns(src) == (["a", "b"], "the training CSV's")
    src.run.config["dataset"]["path"] = str(tmp_path / "gone.csv")
    assert inputs._training_columns(src) is None
    iris = SimpleNamespace(run=SimpleNamespace(config={"dataset": {"name": "iris"}}))
    names, origin = inputs._training_columns(iris)
    assert (names[0], len(names), origin) == ("sepal length (cm)", 4, "dataset=iris's")
    assert inputs._training_columns(SimpleNamespace(run=SimpleNamespace(config={}))) is None


def test_a_csv_input_by_column_name_with_ids_and_labels(tmp_path):
    src = csv_source(tmp_path)
    path = tmp_path / "in.csv"
    path.write_text("id,b,target,a\nr1,2,yes,1\n\n r2 ,4.5,no,3\n")
    got = inputs._from_csv(path, src, (2,))
    assert (got.x.tolist(), got.ids, got.y.tolist(), got.what) == (
        [[1, 2], [3, 4.5]],
        ["r1", "r2"],
        [1, 0],
        f"INPUT {path}",
    )
    path.write_text("B,A\n2,1\n")
    got = inputs._from_csv(path, src, (2,))
    assert (got.x.tolist(), got.ids, got.y) == ([[1, 2]], ["0"], None)


def test_a_csv_input_with_another_delimiter(tmp_path):
    src = csv_source(tmp_path, header="a;b;target", delimiter=";")
    path = tmp_path / "in.csv"
    path.write_text("a;b\n1;2\n")
    assert inputs._from_csv(path, src, (2,)).x.tolist() == [[1, 2]]


def test_a_csv_input_that_does_not_fit_is_one_line(tmp_path):
    src = csv_source(tmp_path)
    path = tmp_path / "in.csv"
    path.write_text("a,b\n")
    fails(f"INPUT {path}: needs a header line and at least one data row", inputs._from_csv, path, src, (2,))
    path.write_text("a,c,d\n1,2,3\n")
    fails(
        f"INPUT {path}: feature columns differ from the training CSV's (a, b): missing b, unknown c, d",
        inputs._from_csv,
        path,
        src,
        (2,),
    )
    path.write_text("a\n1\n")
    fails(
        f"INPUT {path}: feature columns differ from the training CSV's (a, b): missing b, unknown none",
        inputs._from_csv,
        path,
        src,
        (2,),
    )
    path.write_text("a,b\n1,2,3\n")
    fails(f"INPUT {path}:2: 3 fields but the header has 2", inputs._from_csv, path, src, (2,))
    path.write_text("a,b\n1,2\n1,x\n")
    fails(f"INPUT {path}:3: column 'b' = 'x' is not a number", inputs._from_csv, path, src, (2,))
    path.write_text("a,b,target\n1,2,maybe\n")
    fails(
        f"INPUT {path}: column 'target': label 'maybe' is not a class of the model; allowed: no, yes",
        inputs._from_csv,
        path,
        src,
        (2,),
    )
    src.run.config["dataset"]["path"] = str(tmp_path / "gone.csv")  # no training CSV: columns in order
    path.write_text("p,q,r\n1,2,3\n")
    fails(f"INPUT {path}: 3 feature columns (p, q, r); the model takes 2", inputs._from_csv, path, src, (2,))
    fails(f"INPUT {path}: 3 feature columns (p, q, r); the model takes (3, 1)", inputs._from_csv, path, src, (3, 1))
    plain = SimpleNamespace(
        class_names=["no", "yes"], run=SimpleNamespace(config={"dataset": {"name": "npz", "label": "r"}})
    )
    got = inputs._from_csv(path, plain, (3,))  # the label column is "label" unless the run read a CSV
    assert got.x.tolist() == [[1, 2, 3]] and got.y is None
