"""kopt.predict.inputs, line by line, in process (`make mutants`): fit_to_model, the labels, .npy/.npz, CSV and
table inputs, image folders, dataset=NAME and read_inputs without TensorFlow; the image decoding with it
(keras_in_process). tests/test_predict_*.py run kopt predict whole."""

from __future__ import annotations

from pathlib import Path
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


# -- images, dataset=NAME and read_inputs ------------------------------------------------------------------------

in_keras = pytest.mark.keras_in_process  # TensorFlow decodes the images (`make mutants` runs these too)
GREY_OF_10_20_30 = 18.0  # TensorFlow's grey of the RGB pixel (10, 20, 30): 0.299 * 10 + 0.587 * 20 + 0.114 * 30


def png(path, pixels, mode=None):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, "uint8"), mode).save(path, format="PNG")
    return path


@in_keras
def test_images_are_decoded_and_resized_bilinearly(tmp_path):
    a = png(tmp_path / "a.png", [[0, 255]])  # 1x2 grey: a ramp once resized
    b = png(tmp_path / "b.png", [[[10, 20, 30], [10, 20, 30]]])  # 1x2 RGB
    out = inputs._decode([a, b], (1, 4, 3), "W")
    assert out.dtype == np.float32 and out.shape == (2, 1, 4, 3)
    assert out[0, 0, :, 0].tolist() == [0.0, 63.75, 191.25, 255.0]  # grey to RGB: the same in each channel
    assert out[0].tolist() == np.repeat(out[0, :, :, :1], 3, axis=-1).tolist()
    assert out[1, 0].tolist() == [[10.0, 20.0, 30.0]] * 4
    same = inputs._decode([a], (1, 2, 1), "W")
    assert same.shape == (1, 1, 2, 1) and same.ravel().tolist() == [0.0, 255.0]
    assert inputs._decode([], (1, 2, 1), "W").shape == (0, 1, 2, 1)
    grey = inputs._decode([b], (1, 2, 1), "W")  # RGB to the model's one channel
    assert grey.shape == (1, 1, 2, 1) and grey.ravel().tolist() == [GREY_OF_10_20_30] * 2


@in_keras
def test_an_animated_gif_gives_its_first_frame(tmp_path):
    from PIL import Image

    frames = [Image.fromarray(np.array([[0, 255]], "uint8")), Image.fromarray(np.array([[255, 0]], "uint8"))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = inputs._decode([tmp_path / "a.gif"], (1, 2, 3), "W")  # (TensorFlow decodes a GIF to RGB only)
    assert out.shape == (1, 1, 2, 3) and out[0, 0].tolist() == [[0.0] * 3, [255.0] * 3]


@in_keras
def test_an_image_that_cannot_be_read_is_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    fails(f"W: {bad} is not a readable image (InvalidArgumentError)", inputs._decode, [bad], (2, 2, 1), "W")
    fails(f"W: {tmp_path / 'gone.png'}: no such file", inputs._decode, [tmp_path / "gone.png"], (2, 2, 1), "W")
    fails(f"INPUT {tmp_path}: a folder, not a file; not read", inputs._decode, [tmp_path], (2, 2, 1), "W")
    big = png(tmp_path / "big.png", [[1, 2]])
    size = big.stat().st_size
    monkeypatch.setattr(inputs, "MAX_IMAGE_BYTES", size - 1)
    fails(
        f"INPUT {big}: {size} bytes, more than the {size - 1} such a file may have; not read",
        inputs._decode,
        [big],
        (1, 2, 1),
        "W",
    )
    monkeypatch.setattr(inputs, "MAX_IMAGE_BYTES", size)
    assert inputs._decode([big], (1, 2, 1), "W").ravel().tolist() == [1.0, 2.0]


def fake_decode(monkeypatch):
    """_decode without TensorFlow: each image's file name in its first pixel's rank among the calls."""
    seen = []

    def decode(files, shape, what):
        seen.append((list(files), shape, what))
        return np.arange(len(files) * int(np.prod(shape)), dtype="float32").reshape(len(files), *shape)

    monkeypatch.setattr(inputs, "_decode", decode)
    return seen


def test_an_image_folder_with_class_folders_gives_labels(tmp_path, monkeypatch):
    seen = fake_decode(monkeypatch)
    for name in ("owl/2.png", "owl/1.JPG", "cat/z.gif", "cat/notes.txt", ".hidden/x.png", "dog/a.bmp", "top.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    got = inputs._from_images([tmp_path], SOURCE, (2, 2, 1))
    assert got.ids == ["cat/z.gif", "dog/a.bmp", "owl/1.JPG", "owl/2.png"]
    assert got.y.tolist() == [0, 1, 2, 2] and got.y.dtype == np.int64
    assert (got.what, got.x.shape, got.x.dtype) == (f"INPUT {tmp_path}", (4, 2, 2, 1), np.float32)
    files, shape, what = seen[0]
    assert files == [tmp_path / i for i in got.ids] and (shape, what) == ((2, 2, 1), f"INPUT {tmp_path}")
    assert got.x.ravel().tolist() == list(range(16))


def test_an_image_folder_without_class_folders_or_image_files(tmp_path, monkeypatch):
    fake_decode(monkeypatch)
    for name in ("b.jpeg", "a.PNG", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".git").mkdir()  # a hidden folder is no class
    got = inputs._from_images([tmp_path], SOURCE, (1, 1, 3))
    assert (got.ids, got.y, got.x.shape) == (["a.PNG", "b.jpeg"], None, (2, 1, 1, 3))
    files = [tmp_path / "x.png", tmp_path / "sub" / "y.gif"]
    got = inputs._from_images(files, SOURCE, (1, 1, 3))
    assert (got.ids, got.y, got.what) == (["x.png", "y.gif"], None, "INPUT (2 images)")
    got = inputs._from_images(files[:1], SOURCE, (1, 1, 3))
    assert (got.ids, got.what) == (["x.png"], f"INPUT {files[0]}")
    empty = tmp_path / "empty"
    (empty / "cat").mkdir(parents=True)
    (empty / "cat" / "readme.md").write_text("")
    fails(f"INPUT {empty}: no images (.png, .jpg, .jpeg, .bmp, .gif)", inputs._from_images, [empty], SOURCE, (1, 1, 3))
    (empty / "cat" / "readme.md").unlink()
    (empty / "cat").rmdir()
    fails(f"INPUT {empty}: no images (.png, .jpg, .jpeg, .bmp, .gif)", inputs._from_images, [empty], SOURCE, (1, 1, 3))
    fails(f"INPUT {empty}: images, but the model takes 4 tabular features", inputs._from_images, [empty], SOURCE, (4,))
    fails(
        "INPUT (2 images): images, but the model takes 6 tabular features", inputs._from_images, files, SOURCE, (6, 1)
    )
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "e.png").write_bytes(b"")
    fails(
        f"INPUT {tmp_path}: class folder: label 'emu' is not a class of the model; allowed: cat, dog, owl",
        inputs._from_images,
        [tmp_path],
        SOURCE,
        (1, 1, 3),
    )


def dataset_source(name="iris", seed=3, test=(0, 50, 149), split=None, classes=None):
    summary = SimpleNamespace(seed=seed)
    config = {"dataset": {"name": name, "task": "auto", "limit": None}, **({"split": split} if split else {})}
    run = SimpleNamespace(summary=summary, config=config, splits={"test": np.array(test)}, path=Path("run"))
    return SimpleNamespace(run=run, class_names=classes or ["setosa", "versicolor", "virginica"])


def test_dataset_input_of_the_run_s_own_dataset_is_its_test_split():
    import sklearn.datasets

    iris = sklearn.datasets.load_iris()
    got = inputs.read_inputs(["dataset=iris"], dataset_source(), (4,))
    assert got.x.tolist() == iris.data[[0, 50, 149]].astype("float32").tolist() and got.x.dtype == np.float32
    assert (got.ids, got.y.tolist(), got.what) == (["0", "50", "149"], [0, 1, 2], "INPUT dataset=iris")
    fails(
        "INPUT dataset=iris: 4 features per example; the model takes 3",
        inputs._from_dataset,
        "iris",
        dataset_source(),
        (3,),
    )


def test_dataset_input_of_another_dataset_is_its_own_test_split():
    import sklearn.datasets

    from kopt.data.splits import test_split

    iris = sklearn.datasets.load_iris()
    src = dataset_source(name="wine", seed=4)
    got = inputs._from_dataset("iris", src, (4,))
    test = test_split(iris.target, 0.2, 4)[1]
    assert len(test) == 30 and got.ids == [str(int(i)) for i in test]
    assert got.x.tolist() == iris.data[test].astype("float32").tolist() and got.y.tolist() == iris.target[test].tolist()
    src = dataset_source(name="wine", seed=4, split={"test_size": 0.5})
    test = test_split(iris.target, 0.5, 4)[1]
    assert inputs._from_dataset("iris", src, (4,)).ids == [str(int(i)) for i in test] and len(test) == 75
    src = dataset_source(name="wine", seed=None)
    assert inputs._from_dataset("iris", src, (4,)).ids == [str(int(i)) for i in test_split(iris.target, 0.2, 0)[1]]


def test_dataset_input_that_does_not_fit_is_one_line():
    from kopt.paths import config_groups

    allowed = ", ".join(config_groups()["dataset"])
    assert "iris" in allowed and "wine" in allowed
    fails(
        f"INPUT dataset=iris=x: unknown dataset; allowed: {allowed}",
        inputs.read_inputs,
        ["dataset=iris=x"],
        dataset_source(),
        (4,),
    )
    two = ["dataset=iris", "dataset=iris"]  # dataset=NAME alone, else a file of that name
    fails("INPUT dataset=iris: no such file or folder", inputs.read_inputs, two, dataset_source(), (4,))
    fails(
        f"INPUT dataset=nope: unknown dataset; allowed: {allowed}",
        inputs.read_inputs,
        ["dataset=nope"],
        dataset_source(),
        (4,),
    )
    fails(
        "INPUT dataset=iris: its classes (setosa, versicolor, virginica) are not the model's (a, b)",
        inputs._from_dataset,
        "iris",
        dataset_source(classes=["a", "b"]),
        (4,),
    )
    fails(
        "INPUT dataset=iris: its classes (setosa, versicolor, virginica) are not the model's (a, b)",
        inputs._from_dataset,
        "iris",
        dataset_source(name="wine", classes=["a", "b"]),
        (4,),
    )


def test_check_exist_names_the_first_missing_item(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"")
    inputs.check_exist([str(tmp_path / "a.npy"), str(tmp_path), "dataset=anything"])
    fails(
        f"INPUT {tmp_path / 'b.npy'}: no such file or folder",
        inputs.check_exist,
        [str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "c"],
    )
    fails(
        f"INPUT {tmp_path / 'b.npy'}: no such file or folder",
        inputs.read_inputs,
        [str(tmp_path / "b.npy")],
        SOURCE,
        (2,),
    )


def test_read_inputs_picks_the_reader_by_kind(tmp_path, monkeypatch):
    seen = fake_decode(monkeypatch)
    src = SimpleNamespace(class_names=["cat", "dog", "owl"], run=SimpleNamespace(path=tmp_path, config={}))
    with open(tmp_path / "x.NPY", "wb") as fh:  # (np.save would add .npy)
        np.save(fh, np.ones((2, 3)))
    got = inputs.read_inputs([str(tmp_path / "x.NPY")], src, (3,))
    assert (got.x.tolist(), got.ids) == ([[1, 1, 1]] * 2, ["0", "1"])
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 3)), y=np.array(["owl"]))
    assert inputs.read_inputs([str(tmp_path / "x.npz")], src, (3,)).y.tolist() == [2]
    (tmp_path / "x.csv").write_text("a,b,c,label\n1,2,3,dog\n")
    got = inputs.read_inputs([str(tmp_path / "x.csv")], src, (3,))
    assert (got.x.tolist(), got.y.tolist(), got.what) == ([[1, 2, 3]], [1], f"INPUT {tmp_path / 'x.csv'}")
    unknown = "unknown kind; allowed: .npz, .npy, .csv, an image folder, image files (.png, .jpg, .jpeg, .bmp, .gif), dataset=NAME"
    png(tmp_path / "p.png", [[1]])
    png(tmp_path / "q.GIF", [[1]])
    mixed = [str(tmp_path / "p.png"), str(tmp_path / "x.npz")]
    fails(f"INPUT {mixed[0]}: {unknown}", inputs.read_inputs, mixed, src, (1, 1, 1))
    (tmp_path / "x.txt").write_text("1")
    fails(f"INPUT {tmp_path / 'x.txt'}: {unknown}", inputs.read_inputs, [str(tmp_path / "x.txt")], src, (1,))
    two = [str(tmp_path / "x.npz"), str(tmp_path / "x.NPY")]  # arrays are read one file at a time
    fails(f"INPUT {two[0]}: {unknown}", inputs.read_inputs, two, src, (3,))
    two_csv = [str(tmp_path / "x.csv"), str(tmp_path / "x.csv")]
    fails(f"INPUT {two_csv[0]}: {unknown}", inputs.read_inputs, two_csv, src, (3,))
    got = inputs.read_inputs([str(tmp_path / "p.png"), str(tmp_path / "q.GIF")], src, (1, 1, 1))
    assert (got.ids, got.what, seen[-1][0]) == (
        ["p.png", "q.GIF"],
        "INPUT (2 images)",
        [tmp_path / "p.png", tmp_path / "q.GIF"],
    )
    got = inputs.read_inputs([str(tmp_path)], src, (1, 1, 1))  # a folder: its images
    assert got.ids == ["p.png", "q.GIF"]
    (tmp_path / "d.npz").mkdir()  # a folder named like an array file: a folder of images
    (tmp_path / "d.npz" / "i.png").write_bytes(b"")
    assert inputs.read_inputs([str(tmp_path / "d.npz")], src, (1, 1, 1)).ids == ["i.png"]
    (tmp_path / "d.csv").mkdir()
    (tmp_path / "d.csv" / "j.png").write_bytes(b"")
    assert inputs.read_inputs([str(tmp_path / "d.csv")], src, (1, 1, 1)).ids == ["j.png"]


def test_read_inputs_refuses_what_is_not_a_regular_file(tmp_path):
    import os

    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)
    fails(f"INPUT {fifo}: a FIFO, not a file; not read", inputs.read_inputs, [str(fifo)], SOURCE, (2,))
    link = tmp_path / "gone.npy"
    link.symlink_to(tmp_path / "nowhere.npy")  # exists() is False for a dangling link
    fails(f"INPUT {link}: no such file or folder", inputs.read_inputs, [str(link)], SOURCE, (2,))


def test_read_inputs_of_a_table_uses_the_run_s_encoding(tmp_path, monkeypatch):
    calls = []
    encoding = {"label": "kind", "impute": True}
    monkeypatch.setattr(inputs, "run_encoding", lambda path: calls.append(path) or encoding)

    def read_rows(path, enc):
        calls.append((path, enc))
        return np.array([[1.0, np.nan], [3.0, 4.0]]), ["r1", "r2"], ["dog", "cat"]

    monkeypatch.setattr(inputs, "read_rows", read_rows)
    src = SimpleNamespace(class_names=["cat", "dog"], run=SimpleNamespace(path=tmp_path / "run", config={}))
    table = tmp_path / "t.TSV"
    table.write_text("")
    got = inputs.read_inputs([str(table)], src, (2,))
    assert calls == [tmp_path / "run", (table, encoding)]
    assert np.isnan(got.x[0, 1]) and got.x[1].tolist() == [3.0, 4.0]  # NaN passes: the model imputes
    assert (got.ids, got.y.tolist(), got.what) == (["r1", "r2"], [1, 0], f"INPUT {table}")
    monkeypatch.setattr(inputs, "read_rows", lambda path, enc: (np.ones((1, 2)), ["a"], ["emu"]))
    fails(
        f"INPUT {table}: column 'kind': label 'emu' is not a class of the model; allowed: cat, dog",
        inputs.read_inputs,
        [str(table)],
        src,
        (2,),
    )
    monkeypatch.setattr(inputs, "read_rows", lambda path, enc: (np.ones((1, 2)), ["a"], None))
    assert inputs.read_inputs([str(table)], src, (2,)).y is None
    monkeypatch.setattr(inputs, "read_rows", lambda path, enc: (np.array([[np.nan, 1.0]]), ["a"], None))
    encoding["impute"] = False
    fails(
        f"INPUT {table}: 1 example(s) have NaN/inf values as float32 (first: 0)",
        inputs.read_inputs,
        [str(table)],
        src,
        (2,),
    )
    del encoding["impute"]
    fails(
        f"INPUT {table}: 1 example(s) have NaN/inf values as float32 (first: 0)",
        inputs.read_inputs,
        [str(table)],
        src,
        (2,),
    )
    monkeypatch.setattr(inputs, "run_encoding", lambda path: None)  # a run not trained on a table
    fails(
        f"INPUT {table}: unknown kind; allowed: .npz, .npy, .csv, an image folder, image files (.png, .jpg, .jpeg, .bmp, .gif), dataset=NAME",
        inputs.read_inputs,
        [str(table)],
        src,
        (2,),
    )


def fake_dataset(monkeypatch, *, n=12, classes=3, test_idx=None, impute=None):
    """kopt.data.datasets.load_dataset returning a small table (NaN in row 1), recording its calls."""
    from kopt.data import datasets

    calls = []
    x = np.arange(n * 2, dtype="float32").reshape(n, 2)
    x[1, 0] = np.nan
    data = SimpleNamespace(
        x=x,
        y=np.arange(n) % classes,
        class_names=[f"c{i}" for i in range(classes)],
        test_idx=test_idx,
        encoding=None if impute is None else {"impute": impute},
    )

    def load(cfg, seed):
        calls.append((cfg.name, seed))
        return data

    monkeypatch.setattr(datasets, "load_dataset", load)
    return calls


def test_dataset_input_passes_the_seed_and_the_imputed_gaps(monkeypatch):
    calls = fake_dataset(monkeypatch, impute=True)
    src = dataset_source(name="iris", seed=7, test=(1, 2), classes=["c0", "c1", "c2"])
    got = inputs._from_dataset("iris", src, (2,))
    assert calls == [("iris", 7)] and np.isnan(got.x[0, 0]) and got.x[1].tolist() == [4.0, 5.0]
    calls = fake_dataset(monkeypatch, impute=False)
    fails(
        "INPUT dataset=iris: 1 example(s) have NaN/inf values as float32 (first: 0)",
        inputs._from_dataset,
        "iris",
        src,
        (2,),
    )
    calls = fake_dataset(monkeypatch)  # no encoding: nothing imputed
    fails(
        "INPUT dataset=iris: 1 example(s) have NaN/inf values as float32 (first: 0)",
        inputs._from_dataset,
        "iris",
        src,
        (2,),
    )
    calls = fake_dataset(monkeypatch, impute=True, test_idx=np.array([1, 2]))  # another dataset's gaps: never filled
    other = dataset_source(name="wine", seed=7, test=(1, 2), classes=["c0", "c1", "c2"])
    with pytest.raises(KoptError, match="NaN/inf"):
        inputs._from_dataset("iris", other, (2,))
    assert calls == [("iris", 7)]


def test_dataset_input_of_another_dataset_uses_its_fixed_test_set(monkeypatch):
    fake_dataset(monkeypatch, test_idx=np.array([3, 5]))
    src = dataset_source(name="wine", classes=["c0", "c1", "c2"])
    got = inputs._from_dataset("iris", src, (2,))
    assert (got.ids, got.y.tolist(), got.x.tolist()) == (["3", "5"], [0, 2], [[6, 7], [10, 11]])


def test_dataset_input_names_the_first_ten_classes(monkeypatch):
    fake_dataset(monkeypatch, classes=12, test_idx=np.array([0, 2]))
    theirs = ", ".join(f"c{i}" for i in range(10))
    ours = ", ".join(f"k{i}" for i in range(10))
    fails(
        f"INPUT dataset=iris: its classes ({theirs}) are not the model's ({ours})",
        inputs._from_dataset,
        "iris",
        dataset_source(name="wine", test=(0, 2), classes=[f"k{i}" for i in range(12)]),
        (2,),
    )


def test_read_inputs_reads_images_as_images_whatever_the_run_s_encoding(tmp_path, monkeypatch):
    seen = fake_decode(monkeypatch)
    monkeypatch.setattr(inputs, "run_encoding", lambda path: {"label": "kind"})
    monkeypatch.setattr(inputs, "read_rows", lambda path, enc: pytest.fail("read as a table"))
    src = SimpleNamespace(class_names=["cat", "dog"], run=SimpleNamespace(path=tmp_path, config={}))
    one = png(tmp_path / "a.png", [[1]])
    assert inputs.read_inputs([str(one)], src, (1, 1, 1)).ids == ["a.png"]
    five = [png(tmp_path / f"i{s}", [[1]]) for s in inputs.IMAGE_SUFFIXES]  # every image suffix at once
    got = inputs.read_inputs([str(p) for p in five], src, (1, 1, 1))
    assert got.ids == [p.name for p in five] and seen[-1][0] == five
    (tmp_path / "set" / "dog").mkdir(parents=True)
    png(tmp_path / "set" / "dog" / "d.png", [[1]])
    got = inputs.read_inputs([str(tmp_path / "set")], src, (1, 1, 1))  # class folders: the model's classes
    assert (got.ids, got.y.tolist()) == (["dog/d.png"], [1])


# -- exact values of each branch (`make mutants` survivors) -----------------------------------------------------


def test_labels_of_a_regression_model_are_its_values_as_float32():
    for y in (np.array([1.5, -2, 30]), np.array([[1.5], [-2], [30]]), np.array(["1.5", "-2", "30"])):
        got = inputs._labels(y, [], "Y")
        assert got.dtype == np.float32 and got.shape == (3,) and got.tolist() == [1.5, -2.0, 30.0]
    assert inputs._labels(np.array([[1.5, 9], [2, 9]]), [], "Y").tolist() == [1.5, 2.0]  # the first column
    fails("Y: labels are not numbers", inputs._labels, np.array(["1.5", "tall"]), [], "Y")


def test_labels_of_a_multilabel_model_are_its_0_1_matrix():
    y = np.array([[1, 0], [0, 0], [1, 1]])
    got = inputs._labels(y, ["red", "round"], "Y")
    assert got.dtype == np.float32 and got.tolist() == [[1, 0], [0, 0], [1, 1]]
    got = inputs._labels(np.array([[0, 1, 1]]), ["a", "b", "c"], "Y")
    assert got.dtype == np.float32 and got.tolist() == [[0, 1, 1]]
    fails("Y: labels are not numbers", inputs._labels, np.array([["1", "x"]]), ["a", "b"], "Y")
    # one class and one column: class indices, not a matrix
    got = inputs._labels(np.array([[0], [0]]), ["only"], "Y")
    assert got.dtype == np.int64 and got.tolist() == [0, 0]


def test_no_labels_by_name_are_still_class_indices():
    got = inputs._labels(np.array([], "U3"), SOURCE.class_names, "Y")
    assert got.dtype == np.int64 and got.shape == (0,)


def test_fit_to_model_casts_quietly_and_does_not_copy_float32(recwarn):
    import warnings

    x = np.zeros((2, 3), "float32")
    assert inputs.fit_to_model(x, (3,), "X") is x  # already float32: the same array
    signalling_nan = np.frombuffer(np.array([0x7FF0000000000001], np.uint64).tobytes(), np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cast's overflow and invalid value are the refusal, not a warning
        fails("X: 1 example(s) have NaN/inf values as float32 (first: 0)", inputs.fit_to_model, [[1e39]], (1,), "X")
        big = np.array([[1e39]], np.longdouble)
        fails("X: 1 example(s) have NaN/inf values as float32 (first: 0)", inputs.fit_to_model, big, (1,), "X")
        x = np.array([[0.0], [signalling_nan[0]]])
        fails("X: 1 example(s) have NaN/inf values as float32 (first: 1)", inputs.fit_to_model, x, (1,), "X")
        assert np.isnan(inputs.fit_to_model(x, (1,), "X", missing_ok=True)[1, 0])
    assert not recwarn.list


def test_fit_to_model_checks_each_example_whole():
    x = np.zeros((3, 2, 2, 1))
    x[2, 1, 1, 0] = np.inf
    fails("X: 1 example(s) have NaN/inf values as float32 (first: 2)", inputs.fit_to_model, x, (2, 2, 1), "X")


def test_an_npy_or_npz_that_does_not_fit_names_the_file(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 3)))
    fails(f"INPUT {path}: 3 features per example; the model takes 2", inputs._from_arrays, path, SOURCE, (2,))
    path = tmp_path / "x.npz"
    path.write_bytes(b"PK not a zip")
    fails(
        f"INPUT {path}: not a readable .npz file (unreadable (BadZipFile: File is not a zip file))",
        inputs._from_arrays,
        path,
        SOURCE,
        (2,),
    )


def test_a_csv_input_of_a_run_without_a_label_key_drops_the_label_column(tmp_path):
    src = csv_source(tmp_path, header="a,label,b")
    del src.run.config["dataset"]["label"], src.run.config["dataset"]["delimiter"]
    assert inputs._training_columns(src) == (["a", "b"], "the training CSV's")
    path = tmp_path / "in.csv"
    path.write_text("b,label,a\n2,yes,1\n")
    got = inputs._from_csv(path, src, (2,))
    assert (got.x.tolist(), got.y.tolist(), got.ids) == ([[1, 2]], [1], ["0"])


def test_training_columns_of_an_empty_csv_and_of_quoted_names(tmp_path):
    src = csv_source(tmp_path)
    (tmp_path / "train.csv").write_bytes(b"")  # not even a header line
    assert inputs._training_columns(src) == ([], "the training CSV's")
    (tmp_path / "train.csv").write_bytes(b'"x\r\ny",b,target\r\n1,2,3\r\n')  # a quoted name holding a CRLF
    assert inputs._training_columns(src) == (["x\r\ny", "b"], "the training CSV's")


def test_a_csv_input_keeps_a_quoted_line_break_in_its_ids(tmp_path):
    src = csv_source(tmp_path)
    path = tmp_path / "in.csv"
    path.write_bytes(b'id,a,b\r\n"r\r\n1",1,2\r\n')
    got = inputs._from_csv(path, src, (2,))
    assert (got.ids, got.x.tolist()) == (["r\r\n1"], [[1, 2]])


def test_a_csv_input_names_every_missing_and_unknown_column(tmp_path):
    src = csv_source(tmp_path, header="a,b,c,target")
    path = tmp_path / "in.csv"
    path.write_text("c,d\n1,2\n")
    fails(
        f"INPUT {path}: feature columns differ from the training CSV's (a, b, c): missing a, b, unknown d",
        inputs._from_csv,
        path,
        src,
        (3,),
    )
    path.write_text("a,b,c,d\n1,2,3,4\n")
    fails(
        f"INPUT {path}: feature columns differ from the training CSV's (a, b, c): missing none, unknown d",
        inputs._from_csv,
        path,
        src,
        (3,),
    )


def test_a_csv_input_whose_values_are_not_finite_names_the_file(tmp_path):
    src = csv_source(tmp_path)
    path = tmp_path / "in.csv"
    path.write_text("a,b\n1,2\n3,nan\n")
    fails(f"INPUT {path}: 1 example(s) have NaN/inf values as float32 (first: 1)", inputs._from_csv, path, src, (2,))


def test_dataset_input_without_a_dataset_group(monkeypatch):
    import kopt.paths

    monkeypatch.setattr(kopt.paths, "config_groups", lambda: {"model": ["mlp"]})
    fails(
        "INPUT dataset=iris: unknown dataset; allowed: ",
        inputs._from_dataset,
        "iris",
        dataset_source(name="wine"),
        (4,),
    )


def test_read_inputs_reads_an_array_file_larger_than_a_text_file(tmp_path):
    """An input's size is not limited as a run's text files are (64 MiB): a sparse .npy of 68 MiB."""
    from kopt.runfiles import MAX_TEXT_BYTES

    path = tmp_path / "big.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((17, 1 << 20), "float32"))
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.truncate(fh.tell() + 17 * (1 << 20) * 4)
    assert path.stat().st_size > MAX_TEXT_BYTES
    got = inputs.read_inputs([str(path)], SOURCE, (1 << 20,))
    assert got.x.shape == (17, 1 << 20) and got.ids == [str(i) for i in range(17)] and not got.x.any()


def test_short_names_drop_units_inside_a_name():
    assert inputs._short("Width(cm)Max") == "widthmax"
    assert inputs._short("__Area (m2)__") == "area"
