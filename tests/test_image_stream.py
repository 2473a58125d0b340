"""dataset=images streams from disk (kopt.data.images): the run keeps the list of files, never the
decoded set; each fold's tf.data pipeline reads, decodes and resizes them in parallel."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "faults"))
from conftest import assert_clean_error, only_run_dir, read_summary, run_kopt
from faultlib import (
    assert_close_rows,
    assert_same_metrics,
    interrupt,
    metric_rows,
    resume_command,
    start_kopt,
    wait_for_rows,
)
from omegaconf import OmegaConf

pytest.importorskip("tensorflow")


def image_folder(root: Path, per_class: int = 12, size=(10, 12)) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog", "emu")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(*size, 3)) * (0.4 + 0.3 * c)
            Image.fromarray(pixels.astype("uint8")).save(root / name / f"{i:03d}.png")
    return root


def images_cfg(path: Path, **keys):
    node = {"name": "images", "path": str(path), "test_path": None, "image_size": [8, 8], "color_mode": "rgb"}
    return OmegaConf.create({**node, "limit": None, **keys})


def keras_decoded(path: Path) -> np.ndarray:
    """What image_dataset_from_directory decodes (the in-memory loader before streaming)."""
    import keras

    ds = keras.utils.image_dataset_from_directory(
        str(path), label_mode="int", image_size=(8, 8), batch_size=64, shuffle=False, verbose=False
    )
    return np.concatenate([x.numpy() for x, _ in ds])


def test_dataset_images_holds_the_file_list_not_the_decoded_images(tmp_path):
    from kopt.data.datasets import load_dataset

    path = image_folder(tmp_path / "data")
    data = load_dataset(images_cfg(path), seed=0)
    assert not isinstance(data.x, np.ndarray)
    assert data.x.files.tolist()[:2] == [str(path / "cat" / "000.png"), str(path / "cat" / "001.png")]
    assert data.x.shape == (36, 8, 8, 3) and data.input_shape == (8, 8, 3)
    assert data.y.tolist() == [0] * 12 + [1] * 12 + [2] * 12
    np.testing.assert_array_equal(np.asarray(data.x), keras_decoded(path))  # the same pixels as before
    np.testing.assert_array_equal(np.asarray(data.x[[3, 20]]), keras_decoded(path)[[3, 20]])  # indices: files


def test_the_streamed_batches_equal_the_in_memory_ones(tmp_path):
    from kopt.data.datasets import load_dataset
    from kopt.data.pipeline import Normalizer, make_dataset, train_stream

    data = load_dataset(images_cfg(image_folder(tmp_path / "data")), seed=0)
    train = np.arange(4, 30)
    norm = Normalizer.fit(data.x[train])
    decoded = np.asarray(data.x[train])
    want = Normalizer.fit(decoded)
    np.testing.assert_allclose(norm.mean, want.mean, rtol=1e-6)
    np.testing.assert_allclose(norm.std, want.std, rtol=1e-6)
    streamed = train_stream(norm(data.x[train]), data.y[train], 8, seed=3, start_batch=2)
    in_memory = train_stream(want(decoded), data.y[train], 8, seed=3, start_batch=2)
    for (xa, ya), (xb, yb) in zip(streamed.take(6), in_memory.take(6)):  # past the end of a pass, too
        np.testing.assert_allclose(xa.numpy(), xb.numpy(), atol=1e-5)
        assert ya.numpy().tolist() == yb.numpy().tolist()
    (xa, ya), *_ = list(make_dataset(data.x[[1, 2, 3]], data.y[[1, 2, 3]], 2))
    np.testing.assert_array_equal(xa.numpy(), keras_decoded(tmp_path / "data")[[1, 2]])


def test_the_normalisation_comes_from_a_sample_of_the_training_fold(tmp_path, monkeypatch):
    from kopt.data import images
    from kopt.data.datasets import load_dataset
    from kopt.data.pipeline import Normalizer

    monkeypatch.setattr(images, "SAMPLE", 10)
    data = load_dataset(images_cfg(image_folder(tmp_path / "data")), seed=0)
    norm = Normalizer.fit(data.x[np.arange(30)])
    assert norm.sample == 10
    pick = np.sort(np.random.default_rng(30).choice(30, size=10, replace=False))
    np.testing.assert_allclose(norm.mean, np.asarray(data.x[pick]).mean(axis=(0, 1, 2)), rtol=1e-5)
    assert norm.record()["sample"] == 10 and len(norm.record()["mean"]) == 3


def test_a_run_records_its_normalisation_sample(tmp_path):
    image_folder(tmp_path / "data")
    proc = run_kopt(
        "train", "dataset=images", "dataset.path=data", "dataset.image_size=[8,8]", "model=mlp", "model.width=8",
        "model.depth=1", "trainer.epochs=1", "trainer.batch_size=8", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_summary(only_run_dir(tmp_path))
    record = summary["data"]["normalization"]["0"]
    n_train = 36 - summary["data"]["n_test"] - round(0.2 * (36 - summary["data"]["n_test"]))
    assert record["sample"] == n_train  # (a training fold under 1000 images: all of it)
    assert len(record["mean"]) == len(record["std"]) == 3


def test_a_file_that_does_not_decode_is_named(tmp_path):
    from kopt.data.images import FileImages

    path = image_folder(tmp_path / "data")
    bad = path / "dog" / "005.png"
    bad.write_bytes(bad.read_bytes()[:60])  # a PNG header, then nothing
    proc = run_kopt("train", "dataset=images", "dataset.path=data", "model=mlp", "trainer.epochs=1", cwd=tmp_path)
    assert_clean_error(proc, "dataset.path=", "dog/005.png is not a readable image")
    assert not (tmp_path / "runs").exists()
    files = FileImages([str(path / "cat" / "000.png"), str(bad)], (8, 8), 3)
    with pytest.raises(Exception, match=r"dog/005\.png: cannot decode this image"):
        files.decoded()


STREAM = [
    "dataset=images",
    "dataset.path=data",
    "dataset.image_size=[8,8]",
    "model=mlp",
    "model.width=8",
    "model.depth=1",
    "augment=light",
    "trainer.epochs=4",
    "trainer.batch_size=2",
    "trainer.intra_threads=1",
    "trainer.inter_threads=1",
]


def test_a_streamed_run_resumed_after_sigterm_equals_the_uninterrupted_run(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for side in "ab":
        image_folder(tmp_path / side / "data", per_class=60)
    proc = run_kopt("train", *STREAM, cwd=tmp_path / "a")
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = only_run_dir(tmp_path / "a")
    proc = start_kopt("train", *STREAM, cwd=tmp_path / "b")
    metrics = wait_for_rows(proc, "runs/train/*/metrics.jsonl", tmp_path / "b", 1)
    out, _ = interrupt(proc, signal.SIGTERM)
    run = metrics.parent
    assert read_summary(run)["status"] == "interrupted"
    assert len(metric_rows(metrics)) < 4
    resumed = run_kopt(*resume_command(out), cwd=tmp_path / "b")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_metrics(read_summary(run)["metrics"], read_summary(reference)["metrics"])
    assert_close_rows(metric_rows(run / "metrics.jsonl"), metric_rows(reference / "metrics.jsonl"))
    with np.load(run / "predictions.npz") as got, np.load(reference / "predictions.npz") as want:
        np.testing.assert_allclose(got["fold_probs"], want["fold_probs"], atol=1e-6)
