"""Tiny stand-ins for the keras.datasets cache files, written in exactly the formats Keras reads
(npz, gzipped IDX, pickled CIFAR batches in a tar.gz), plus PNG class folders. Never downloaded."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def images(n: int, shape: tuple[int, ...], classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose brightness depends on the class (learnable), labels cycling through classes."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.integers(0, 60, size=(n, *shape)) + (y * (190 // max(classes - 1, 1))).reshape(-1, *[1] * len(shape))
    return x.astype("uint8"), y.astype("uint8")


def write_mnist(datasets: Path, n_train: int = 100, n_test: int = 20) -> Path:
    x_train, y_train = images(n_train, (28, 28), 10, 0)
    x_test, y_test = images(n_test, (28, 28), 10, 1)
    datasets.mkdir(parents=True, exist_ok=True)
    path = datasets / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def _idx(array: np.ndarray) -> bytes:
    """IDX format: magic (0, 0, dtype 0x08 = uint8, ndim), big-endian dims, raw bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype("uint8").tobytes()


def write_fashion_mnist(datasets: Path, n_train: int = 100, n_test: int = 20) -> Path:
    folder = datasets / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = images(n_train, (28, 28), 10, 2)
    x_test, y_test = images(n_test, (28, 28), 10, 3)
    for name, array in (
        ("train-images-idx3-ubyte.gz", x_train),
        ("train-labels-idx1-ubyte.gz", y_train),
        ("t10k-images-idx3-ubyte.gz", x_test),
        ("t10k-labels-idx1-ubyte.gz", y_test),
    ):
        with gzip.open(folder / name, "wb") as fh:
            fh.write(_idx(array))
    return folder


def _batch(x: np.ndarray, labels: dict) -> bytes:
    """A CIFAR python batch: a dict with bytes keys, data (n, 3072) in channel-major order."""
    data = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
    # protocol 4 pickles arrays through numpy's _reconstruct, as the published files do (5 would not)
    return pickle.dumps({b"data": data, **{k.encode(): v for k, v in labels.items()}}, protocol=4)


def _write_tree(files: dict[str, bytes], target: Path, archive: bool) -> Path:
    if archive:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(target, "w:gz") as tar:
            for name, blob in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
        return target
    for name, blob in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    return target


def write_cifar10(datasets: Path, per_batch: int = 20, n_test: int = 20, layout: str = "archive") -> Path:
    """layout "archive": cifar-10-python.tar.gz as published; "keras3": the folder Keras 3 extracts to."""
    files = {}
    for i in range(1, 6):
        x, y = images(per_batch, (32, 32, 3), 10, 10 + i)
        files[f"cifar-10-batches-py/data_batch_{i}"] = _batch(x, {"labels": [int(v) for v in y]})
    x, y = images(n_test, (32, 32, 3), 10, 20)
    files["cifar-10-batches-py/test_batch"] = _batch(x, {"labels": [int(v) for v in y]})
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    files["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": names}, protocol=4)
    if layout == "archive":
        return _write_tree(files, datasets / "cifar-10-python.tar.gz", archive=True)
    return _write_tree(files, datasets / "cifar-10-batches-py-target", archive=False)


def write_cifar100(datasets: Path, n_train: int = 100, n_test: int = 20) -> Path:
    files = {}
    for part, n, seed in (("train", n_train, 30), ("test", n_test, 31)):
        x, fine = images(n, (32, 32, 3), 100, seed)
        files[f"cifar-100-python/{part}"] = _batch(
            x, {"fine_labels": [int(v) for v in fine], "coarse_labels": [int(v) // 5 for v in fine]}
        )
    meta = {
        b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
    }
    files["cifar-100-python/meta"] = pickle.dumps(meta, protocol=4)
    return _write_tree(files, datasets / "cifar-100-python.tar.gz", archive=True)


def write_png_folder(root: Path, classes=("cat", "dog"), per_class: int = 6, size=(12, 10), seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 80, size=(*size, 3)) + 150 * c
            Image.fromarray(pixels.astype("uint8"), "RGB").save(root / name / f"{i}.png")
    return root
