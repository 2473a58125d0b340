"""Every dataset entry through its real loading code; bad data gets one clear line."""

from __future__ import annotations

import fake_datasets as fake
import numpy as np
import pytest
from conftest import assert_clean_error, only_run_dir, read_summary, run_kopt
from omegaconf import OmegaConf

from kopt.data.datasets import LOADERS, load_dataset
from kopt.data.splits import Splits, make_splits
from kopt.errors import KoptError

MLP = ["model=mlp", "model.width=16", "model.depth=1", "trainer.epochs=1", "trainer.batch_size=32"]


def load(name: str, seed: int = 0, **options):
    return load_dataset(OmegaConf.create({"name": name, "limit": None, **options}), seed)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def test_every_config_option_has_a_loader():
    from kopt.paths import config_groups

    assert set(config_groups()["dataset"]) == set(LOADERS)


@pytest.mark.parametrize(
    "name, n, shape, classes, kind",
    [
        ("digits", 1797, (8, 8, 1), 10, "image"),
        ("iris", 150, (4,), 3, "tabular"),
        ("wine", 178, (13,), 3, "tabular"),
        ("breast_cancer", 569, (30,), 2, "tabular"),
    ],
)
def test_bundled_datasets(name, n, shape, classes, kind):
    data = load(name)
    assert (len(data.y), data.input_shape, data.num_classes, data.kind) == (n, shape, classes, kind)
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert data.test_idx is None
    assert set(np.unique(data.y)) == set(range(classes))


def test_synthetic_shapes():
    assert load("synthetic", shape=[6], classes=3, size=60, noise=1.0).kind == "tabular"
    data = load("synthetic", shape=[5, 5], classes=3, size=60, noise=1.0)
    assert data.input_shape == (5, 5, 1) and data.kind == "image"


def test_limit_is_stratified_and_seeded():
    a, b = load("digits", limit=200), load("digits", limit=200)
    assert len(a.y) == 200 and np.array_equal(a.x, b.x)
    assert np.bincount(a.y).min() >= 19  # 10 classes, ~20 each
    assert not np.array_equal(a.x, load("digits", seed=1, limit=200).x)


# ------------------------------------------------------------------------------ keras.datasets cache


def test_mnist_from_cache(keras_home):
    fake.write_mnist(keras_home / "datasets")
    data = load("mnist")
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10 and len(data.y) == 120
    assert np.array_equal(data.test_idx, np.arange(100, 120))
    with np.load(keras_home / "datasets" / "mnist.npz") as z:
        assert np.array_equal(data.x[data.test_idx, ..., 0], z["x_test"])  # the official test split, in order
        assert np.array_equal(data.y[:100], z["y_train"])


def test_fashion_mnist_from_cache(keras_home):
    fake.write_fashion_mnist(keras_home / "datasets")
    data = load("fashion_mnist")
    assert data.input_shape == (28, 28, 1) and len(data.y) == 120 and len(data.test_idx) == 20
    assert data.class_names[0] == "T-shirt/top"
    x_train, y_train = fake.images(100, (28, 28), 10, 2)
    assert np.array_equal(data.x[:100, ..., 0], x_train) and np.array_equal(data.y[:100], y_train)


@pytest.mark.parametrize("layout", ["archive", "keras3"])
def test_cifar10_from_cache(keras_home, layout):
    fake.write_cifar10(keras_home / "datasets", layout=layout)
    data = load("cifar10")
    assert data.input_shape == (32, 32, 3) and len(data.y) == 120 and len(data.test_idx) == 20
    assert data.class_names[:2] == ["airplane", "automobile"]
    x1, y1 = fake.images(20, (32, 32, 3), 10, 11)  # data_batch_1, channels-last again
    assert np.array_equal(data.x[:20], x1) and np.array_equal(data.y[:20], y1)
    if layout == "keras3":  # the fake batches are what Keras' own CIFAR reader reads
        from keras.src.datasets.cifar import load_batch

        raw, labels = load_batch(keras_home / "datasets/cifar-10-batches-py-target/cifar-10-batches-py/data_batch_1")
        assert np.array_equal(raw.transpose(0, 2, 3, 1), x1) and list(labels) == list(y1)


@pytest.mark.parametrize("mode, classes", [("fine", 100), ("coarse", 20)])
def test_cifar100_from_cache(keras_home, mode, classes):
    fake.write_cifar100(keras_home / "datasets")
    data = load("cifar100", label_mode=mode)
    assert data.num_classes == classes and data.input_shape == (32, 32, 3) and len(data.test_idx) == 20
    assert data.class_names[1] == f"{mode}1"


@pytest.mark.parametrize(
    "name, needle",
    [
        ("mnist", "mnist.npz"),
        ("fashion_mnist", "train-images-idx3-ubyte.gz"),
        ("cifar10", "cifar-10-python.tar.gz"),
        ("cifar100", "cifar-100-python.tar.gz"),
    ],
)
def test_missing_cache_file_names_file_and_folder(keras_home, name, needle):
    with pytest.raises(KoptError) as err:
        load(name)
    message = str(err.value)
    assert needle in message and str(keras_home / "datasets") in message and "never downloads" in message


def test_missing_cache_file_is_a_clean_error_before_anything_runs(tmp_path):
    home = tmp_path / "empty_home"
    proc = run_kopt("train", "dataset=cifar10", cwd=tmp_path, env={"KERAS_HOME": str(home)})
    assert_clean_error(proc, "cifar-10-python.tar.gz", str(home / "datasets"))
    assert not (tmp_path / "runs").exists()
    assert not (home / "datasets").exists() or not any((home / "datasets").iterdir())  # nothing fetched


def test_no_download_is_attempted(keras_home, monkeypatch):
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    fake.write_mnist(keras_home / "datasets")  # its hash differs from the real file's: Keras would re-download
    assert len(load("mnist").y) == 120
    with pytest.raises(KoptError):
        load("cifar10")


def test_corrupt_cache_file(keras_home):
    (keras_home / "datasets").mkdir(parents=True)
    (keras_home / "datasets" / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(KoptError, match="cannot read .*mnist.npz"):
        load("mnist")


def test_mnist_end_to_end_uses_the_official_test_split(tmp_path):
    home = tmp_path / "keras_home"
    fake.write_mnist(home / "datasets")
    proc = run_kopt("train", "dataset=mnist", *MLP, cwd=tmp_path, env={"KERAS_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run_dir(tmp_path)
    assert read_summary(run_dir)["data"]["n_test"] == 20
    assert np.array_equal(Splits.load(run_dir / "splits.npz").test, np.arange(100, 120))


# --------------------------------------------------------------------------------------- your files


def test_npz_without_test_set(tmp_path):
    x, y = fake.images(60, (6,), 3, 0)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    data = load("npz", path=str(tmp_path / "d.npz"))
    assert data.kind == "tabular" and data.test_idx is None and data.num_classes == 3


def test_npz_test_set_is_the_fixed_test_set(tmp_path):
    x, y = fake.images(60, (8, 8), 3, 0)
    xt, yt = fake.images(15, (8, 8), 3, 1)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    data = load("npz", path=str(tmp_path / "d.npz"))
    assert data.input_shape == (8, 8, 1) and np.array_equal(data.test_idx, np.arange(60, 75))
    own = {"holdout": {"val_size": 0.2}, "kfold": {"k": 3, "shuffle": True}, "cv5x2": {}}  # each split's own keys
    for name in ("holdout", "kfold", "cv5x2"):
        cfg = OmegaConf.create({"name": name, "test_size": 0.5, "stratify": True, **own[name]})
        splits = make_splits(cfg, data.y, 0, fixed_test=data.test_idx)
        assert np.array_equal(splits.test, np.arange(60, 75))  # test_size is not used
        for train, val in splits.folds:
            assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(60))


def test_limit_keeps_the_fixed_test_share(tmp_path):
    x, y = fake.images(80, (4,), 2, 0)
    xt, yt = fake.images(20, (4,), 2, 1)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    data = load("npz", path=str(tmp_path / "d.npz"), limit=50)
    assert len(data.y) == 50 and np.array_equal(data.test_idx, np.arange(40, 50))
    assert np.isin(data.x[data.test_idx], xt).all()


def test_csv(tmp_path):
    (tmp_path / "t.csv").write_text(
        "a,species,b\n1.5,setosa,2\n"
        + "".join(f"{i},{'setosa' if i % 2 else 'virginica'},{i * 2}\n" for i in range(20))
    )
    data = load("csv", path=str(tmp_path / "t.csv"), label="species", delimiter=",")
    assert data.input_shape == (2,) and data.class_names == ["setosa", "virginica"] and len(data.y) == 21
    assert data.x[0].tolist() == [1.5, 2.0] and data.y[0] == 0


def test_csv_numeric_labels_and_test_file(tmp_path):
    rows = "".join(f"{i % 3 + 1},{i}\n" for i in range(30))
    (tmp_path / "train.csv").write_text("label,f\n" + rows)
    (tmp_path / "test.csv").write_text("label,f\n3,1\n1,2\n")
    data = load(
        "csv", path=str(tmp_path / "train.csv"), test_path=str(tmp_path / "test.csv"), label="label", delimiter=","
    )
    assert data.class_names == ["1", "2", "3"] and data.y[-2:].tolist() == [2, 0]
    assert np.array_equal(data.test_idx, [30, 31])


@pytest.mark.parametrize(
    "content, needle",
    [
        ("label,f\n0,1\n1,x\n", "column 'f' = 'x' is not a number"),
        ("label,f\n0,1\n1,\n", "NaN/inf"),
        ("y,f\n0,1\n", "dataset.label='label' is not a column"),
        ("label,f\n0,1\n1,2,3\n", "3 fields but the header has 2"),
    ],
)
def test_csv_errors(tmp_path, content, needle):
    (tmp_path / "t.csv").write_text(content)
    with pytest.raises(KoptError) as err:
        load("csv", path=str(tmp_path / "t.csv"), label="label", delimiter=",")
    assert needle in str(err.value)


def test_a_csv_of_fractional_labels_is_a_regression_target_unless_classes_are_asked_for(tmp_path):
    (tmp_path / "t.csv").write_text("label,f\n0.5,1\n1,2\n2.5,3\n")
    data = load("csv", path=str(tmp_path / "t.csv"), label="label", delimiter=",", task="auto")
    assert data.task == "regression" and data.y.tolist() == [0.5, 1.0, 2.5]
    with pytest.raises(KoptError) as err:
        load("csv", path=str(tmp_path / "t.csv"), label="label", delimiter=",", task="multiclass")
    assert "label '0.5' is not an integer" in str(err.value)


def test_images_folder(tmp_path):
    fake.write_png_folder(tmp_path / "train")
    fake.write_png_folder(tmp_path / "test", per_class=2, seed=1)
    data = load("images", path=str(tmp_path / "train"), image_size=[8, 6], color_mode="grayscale")
    assert data.input_shape == (8, 6, 1) and data.class_names == ["cat", "dog"] and len(data.y) == 12
    x = np.asarray(data.x)  # the files, decoded (dataset=images streams them: kopt.data.images)
    assert x[data.y == 1].mean() > x[data.y == 0].mean() + 100  # dog pixels are brighter
    data = load(
        "images", path=str(tmp_path / "train"), test_path=str(tmp_path / "test"), image_size=[8, 8], color_mode="rgb"
    )
    assert data.input_shape == (8, 8, 3) and np.array_equal(data.test_idx, np.arange(12, 16))


def test_images_need_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    with pytest.raises(KoptError, match="one sub-folder per class"):
        load("images", path=str(tmp_path / "flat"), image_size=[8, 8], color_mode="rgb")


# ------------------------------------------------------------------------------------------ bad data


def _npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return str(path)


GOOD_X, GOOD_Y = np.zeros((12, 3), "float32"), np.arange(12) % 3


@pytest.mark.parametrize(
    "arrays, options, needle",
    [
        ({"x": GOOD_X, "y": GOOD_Y}, {}, "missing key(s) x_train, y_train; found x, y"),
        ({"x_train": GOOD_X, "y_train": GOOD_Y[:5]}, {}, "12 samples but 5 labels"),
        ({"x_train": GOOD_X, "y_train": np.eye(3)[GOOD_Y]}, {}, "expected one integer label per sample"),
        ({"x_train": GOOD_X, "y_train": GOOD_Y + 0.5}, {"task": "multiclass"}, "is not an integer"),  # auto: regression
        ({"x_train": GOOD_X, "y_train": GOOD_Y - 1}, {}, "label -1 (sample 0) is out of range"),
        (
            {"x_train": GOOD_X, "y_train": GOOD_Y * 2},
            {"classes": 3},
            "label 4 (sample 2) is out of range; allowed: 0..2",
        ),
        ({"x_train": GOOD_X, "y_train": GOOD_Y * 2}, {}, "class 1 has no training samples"),
        ({"x_train": np.where(np.eye(12, 3) > 0, np.nan, GOOD_X), "y_train": GOOD_Y}, {}, "3 samples have NaN/inf"),
        ({"x_train": np.full((12, 3), np.inf), "y_train": GOOD_Y}, {}, "NaN/inf"),
        ({"x_train": np.zeros((12, 2, 2, 2, 2)), "y_train": GOOD_Y}, {}, "expected (n, features), (n, H, W)"),
        ({"x_train": GOOD_X, "y_train": GOOD_Y, "x_test": np.zeros((3, 4)), "y_test": [0, 1, 2]}, {}, "must match"),
        ({"x_train": GOOD_X, "y_train": GOOD_Y, "x_test": GOOD_X[:3]}, {}, "only one of x_test, y_test"),
        ({"x_train": GOOD_X, "y_train": GOOD_Y, "x_test": GOOD_X[:3], "y_test": [0, 1, 7]}, {}, "label 7"),
    ],
)
def test_bad_npz_data(tmp_path, arrays, options, needle):
    with pytest.raises(KoptError) as err:
        load("npz", path=_npz(tmp_path, **arrays), **options)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x_train=np.array([{"a": 1}] * 4, dtype=object), y_train=[0, 1, 0, 1])
    with pytest.raises(KoptError, match="not a readable .npz"):
        load("npz", path=str(path))


def test_too_few_samples_per_class_for_k_folds(tmp_path):
    x, y = np.zeros((40, 2), "float32"), np.r_[np.zeros(36), np.ones(4)].astype(int)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    proc = run_kopt(
        "train", "dataset=npz", f"dataset.path={tmp_path / 'd.npz'}", "split=kfold", "split.k=5", *MLP, cwd=tmp_path
    )
    assert_clean_error(proc, "split.k=5", "class 1 has only", "needs at least 5")


def test_missing_file_is_a_clean_error_before_anything_runs(tmp_path):
    proc = run_kopt("train", "dataset=npz", "dataset.path=nowhere.npz", cwd=tmp_path)
    assert_clean_error(proc, "dataset.path=nowhere.npz: no such file")
    proc = run_kopt("train", "dataset=csv", cwd=tmp_path)
    assert_clean_error(proc, "dataset.path is required")
    assert not (tmp_path / "runs").exists()


def test_wine_mlp_end_to_end(tmp_path):
    proc = run_kopt("train", "dataset=wine", "model=mlp", "trainer.epochs=3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(only_run_dir(tmp_path))
    assert summary["status"] == "completed" and summary["data"]["input_shape"] == [13]
    assert summary["data"]["classes"] == 3


def test_cnn_on_tabular_data_is_refused(tmp_path):
    proc = run_kopt("train", "dataset=iris", "model=cnn", cwd=tmp_path)
    assert_clean_error(proc, "model=cnn needs image input", "model=mlp")
