"""dataset=custom: your own data, loaded by the function dataset._target_ names (kopt.data.sources.custom)."""

from __future__ import annotations

import csv
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_clean_error, only_run_dir, read_summary, run_kopt
from omegaconf import OmegaConf

from kopt.custom_argv import open_custom_keys

ROOT = Path(__file__).resolve().parents[1]
MODEL = ["model=mlp", "model.width=8", "model.depth=1", "trainer.epochs=2", "trainer.batch_size=32"]
CUSTOM = ["dataset=custom", "dataset._target_=loaders.load"]

LOADERS = """
import numpy as np


def load(n=100, features=3, shift=0.0):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, features)) + 2.0 * y[:, None] + shift
    return {"x": x.astype("float32"), "y": y}


def values(n=100):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return {"x": x, "y": (x @ np.array([1.0, -2.0, 0.5])).astype("float32")}


def with_test(n=100):
    data = load(n)
    return {**data, "x_test": data["x"][:30] + 0.5, "y_test": data["y"][:30], "class_names": ["no", "yes"]}


def one_d():
    return {"x": np.arange(40.0), "y": np.arange(40) % 2}


def short_labels():
    return {"x": np.zeros((40, 3)), "y": np.arange(39) % 2}


def nan_label():
    y = (np.arange(40) % 2).astype(float)
    y[7] = np.nan
    return {"x": np.zeros((40, 3)), "y": y}


def empty():
    return {"x": np.zeros((0, 3)), "y": np.zeros(0)}


def no_y():
    return {"x": np.zeros((40, 3))}


def a_list():
    return [1, 2, 3]


def test_shape():
    return {"x": np.zeros((40, 3)), "y": np.arange(40) % 2, "x_test": np.zeros((5, 4)), "y_test": np.zeros(5)}


def few_names():
    return {"x": np.zeros((40, 3)), "y": np.arange(40) % 2, "feature_names": ["a", "b"]}


def write_examples(folder="examples", n=60):
    import os

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    files = []
    for i in range(n):
        path = os.path.join(folder, f"{i:03d}.npy")
        if not os.path.exists(path):
            np.save(path, (rng.normal(size=3) + 3.0 * (i % 2)).astype("float32"))
        files.append(path)
    return files


def read_one(path):
    return np.load(path)


def from_files(n=60):
    return {"files": write_examples(n=n), "y": np.arange(n) % 2, "decode": read_one}


def from_files_by_name(n=60):
    return {"files": write_examples(n=n), "y": np.arange(n) % 2, "decode": "loaders.read_one"}


def two_d_files():
    return {"files": write_examples(n=40), "y": np.arange(40) % 2, "decode": lambda path: np.zeros((2, 2))}


def decode_without_files():
    return {"x": np.zeros((40, 3)), "y": np.arange(40) % 2, "decode": read_one}


def files_without_decode():
    return {"files": write_examples(n=40), "y": np.arange(40) % 2}


def raises():
    raise FileNotFoundError("/data/missing.parquet")
"""


def write_loaders(folder: Path) -> None:
    (folder / "loaders.py").write_text(textwrap.dedent(LOADERS))


def test_keys_of_a_custom_dataset_need_no_plus():
    argv = ["dataset=custom", "dataset._target_=m.load", "dataset.n=5", "model.width=3"]
    assert open_custom_keys(argv) == ["dataset=custom", "++dataset._target_=m.load", "++dataset.n=5", "model.width=3"]
    both = [*argv, "model=custom"]
    assert open_custom_keys(both)[2:4] == ["++dataset.n=5", "++model.width=3"]
    assert open_custom_keys(["dataset=iris", "dataset.n=5"]) == ["dataset=iris", "dataset.n=5"]


def test_a_custom_loader_trains_with_its_own_key_and_predict_reads_it(tmp_path):
    write_loaders(tmp_path)
    proc = run_kopt("train", *CUSTOM, "dataset.n=150", *MODEL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(tmp_path)
    summary = read_summary(run)
    assert summary["status"] == "completed"
    assert summary["data"]["input_shape"] == [3]
    assert summary["data"]["classes"] == 2
    splits = np.load(run / "splits.npz")
    assert len(splits["test"]) == 30  # split.test_size=0.2 of dataset.n=150 rows: the key reached the loader
    out = tmp_path / "p.csv"
    proc = run_kopt("predict", str(run), "dataset=custom", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(out.open()))
    assert sorted(int(r["id"]) for r in rows) == sorted(splits["test"].tolist())
    accuracy = np.mean([r["predicted"] == r["label"] for r in rows])
    assert accuracy == pytest.approx(summary["metrics"]["test_accuracy"])


def test_a_custom_loaders_fixed_test_set_and_class_names(tmp_path):
    write_loaders(tmp_path)
    proc = run_kopt("train", "dataset=custom", "dataset._target_=loaders.with_test", *MODEL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(tmp_path)
    assert np.load(run / "splits.npz")["test"].tolist() == list(range(100, 130))
    assert read_summary(run)["data"]["class_names"] == ["no", "yes"]


@pytest.mark.parametrize(
    ("target", "needles"),
    [
        ("one_d", ["dataset._target_=loaders.one_d", "'x' has shape (40,)"]),
        ("short_labels", ["'y' has 39 labels but 'x' has 40 rows"]),
        ("nan_label", ["'y'[7] is nan"]),
        ("empty", ["'x' is empty"]),
        ("no_y", ["returned no 'y'"]),
        ("a_list", ["returned a list"]),
        ("test_shape", ["'x_test' has rows of shape (4,) but 'x' (3,)"]),
        ("few_names", ["'feature_names' has 2 names"]),
        ("files_without_decode", ["returned no 'decode'"]),
        ("decode_without_files", ["returned no 'files'"]),
        ("two_d_files", ["returned shape (2, 2)", "expected (features,) or (H, W, C)"]),
        ("raises", ["your loader raised FileNotFoundError (/data/missing.parquet)"]),
        ("nowhere", ["dataset._target_=loaders.nowhere: cannot import it"]),
    ],
)
def test_a_bad_loader_result_is_one_line_before_any_run_dir(tmp_path, target, needles):
    write_loaders(tmp_path)
    proc = run_kopt("train", "dataset=custom", f"dataset._target_=loaders.{target}", *MODEL, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert_clean_error(proc, *needles)
    assert not (tmp_path / "runs").exists()


def test_a_key_the_loader_does_not_take_and_a_target_not_yours_are_one_line(tmp_path):
    write_loaders(tmp_path)
    proc = run_kopt("train", *CUSTOM, "dataset.width=3", *MODEL, cwd=tmp_path)
    assert_clean_error(proc, "dataset._target_=loaders.load", "width", "it takes: n, features, shift")
    proc = run_kopt("train", "dataset=custom", "dataset._target_=os.system", *MODEL, cwd=tmp_path)
    assert_clean_error(proc, "dataset._target_=os.system: not allowed")
    proc = run_kopt("train", "dataset=custom", *MODEL, cwd=tmp_path)
    assert_clean_error(proc, "dataset._target_: missing")
    assert not (tmp_path / "runs").exists()


def test_a_study_over_a_custom_loader_tunes_the_models_keys_not_the_loaders(tmp_path):
    write_loaders(tmp_path)
    proc = run_kopt("tune", *CUSTOM, "dataset.n=80", *MODEL, "search.dataset.shift=choice(0.0,1.0)", cwd=tmp_path)
    assert_clean_error(proc, "search.dataset.shift", "choose which examples form the test")
    assert not (tmp_path / "runs").exists()
    proc = run_kopt(
        "tune", *CUSTOM, "dataset.n=80", *MODEL, "search.model.width=choice(3,5)", "tuner=grid", "tuner.plots=false",
        "tuner.retrain_best=false", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = sorted((only_run_dir(tmp_path, "tune") / "trials").iterdir())
    params = {}
    for trial in trials:
        summary = read_summary(trial)
        assert summary["status"] == "completed"
        config = OmegaConf.load(trial / ".hydra" / "config.yaml")
        assert config.dataset.n == 80
        params[int(config.model.width)] = summary["params"]
    assert sorted(params) == [3, 5]
    assert params[5] - params[3] == 2 * (3 + 4 + 2)  # a hidden unit: 3 inputs, 4 batch-norm values, 2 outputs


def test_the_example_loader_trains(tmp_path):
    shutil.copy(ROOT / "examples" / "custom_data" / "myloader.py", tmp_path)
    proc = run_kopt(
        "train",
        "dataset=custom",
        "dataset._target_=myloader.load",
        "dataset.n=120",
        "dataset.features=5",
        *MODEL,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_summary(only_run_dir(tmp_path))
    assert summary["data"]["input_shape"] == [5]
    assert summary["data"]["class_names"] == ["low", "mid", "high"]


@pytest.mark.parametrize("target", ["from_files", "from_files_by_name"])
def test_a_loader_of_files_and_decode_streams_its_examples(tmp_path, target):
    write_loaders(tmp_path)
    proc = run_kopt("train", "dataset=custom", f"dataset._target_=loaders.{target}", *MODEL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_summary(only_run_dir(tmp_path))
    assert summary["data"]["input_shape"] == [3] and summary["data"]["n"] == 60
    assert summary["data"]["normalization"]["0"]["sample"] == 60 - 12 - 10  # the training fold, sampled whole
    assert summary["metrics"]["test_accuracy"] >= 0.75  # the classes are 3 standard deviations apart


def test_a_bad_loader_result_in_kopt_tune_is_one_line_before_the_study_dir(tmp_path):
    write_loaders(tmp_path)
    proc = run_kopt(
        "tune", "dataset=custom", "dataset._target_=loaders.short_labels", *MODEL, "search.model.width=choice(3,5)",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert_clean_error(proc, "dataset._target_=loaders.short_labels", "'y' has 39 labels but 'x' has 40 rows")
    assert not (tmp_path / "runs").exists()


def test_cfg_job_prints_a_custom_dataset_without_importing_the_loader(tmp_path):
    (tmp_path / "loaders.py").write_text('open("IMPORTED", "w").write("x")\n\n\ndef load(n=1):\n    return {}\n')
    proc = run_kopt("train", *CUSTOM, "dataset.n=3", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert OmegaConf.create(proc.stdout).dataset == {
        "name": "custom",
        "_target_": "loaders.load",
        "task": "auto",
        "limit": None,
        "n": 3,
    }
    assert not (tmp_path / "IMPORTED").exists()


def test_a_custom_loader_of_values_trains_with_dataset_task_regression(tmp_path):
    write_loaders(tmp_path)
    proc = run_kopt(
        "train", "dataset=custom", "dataset._target_=loaders.values", "dataset.task=regression",
        "trainer.monitor=val_loss", *MODEL, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_summary(only_run_dir(tmp_path))
    assert summary["data"]["task"] == "regression" and summary["data"]["classes"] == 0
    assert summary["metrics"]["test_rmse"] ** 2 == pytest.approx(summary["metrics"]["test_loss"], rel=0.05)
