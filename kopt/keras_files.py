"""Where ``keras.datasets`` caches its files, and which of them a dataset needs (no TensorFlow).

Config validation calls :func:`locate` before a run starts, so a file that is not cached costs one
line naming the file to place where; :mod:`kopt.data.keras_cache` reads the files it finds.
"""

from __future__ import annotations

import os
from pathlib import Path

from kopt.errors import KoptError

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def cache_dirs() -> list[Path]:
    """Where keras.datasets keeps its files: $KERAS_HOME/datasets, else ~/.keras/datasets; Keras falls
    back to /tmp/.keras when that is not writable, so that folder is searched too."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    dirs = [Path(home) / "datasets"]
    fallback = Path("/tmp/.keras/datasets")
    if fallback != dirs[0]:
        dirs.append(fallback)
    return dirs


def find(*names: str) -> Path | None:
    """The first of ``names`` (paths relative to a cache dir) that exists in a cache dir."""
    for folder in cache_dirs():
        for name in names:
            if (folder / name).exists():
                return folder / name
    return None


def missing(dataset: str, files: list[str], folder: Path, origin: str) -> KoptError:
    it = "them" if len(files) > 1 else "it"
    return KoptError(
        f"dataset={dataset}: {', '.join(files)} not found and kopt never downloads; place {it} in "
        f"{folder} (download from {origin}, or run keras.datasets.{dataset}.load_data() once on a "
        "machine with network access)"
    )


# dataset -> (folder inside the archive, archive as published)
CIFAR = {
    "cifar10": ("cifar-10-batches-py", "cifar-10-python.tar.gz"),
    "cifar100": ("cifar-100-python", "cifar-100-python.tar.gz"),
}


def locate(dataset: str) -> Path:
    """The cached file or folder ``dataset`` is read from, or a KoptError naming what to place where.
    Needs no TensorFlow, so config validation can call it before a run starts."""
    home = cache_dirs()[0]
    if dataset == "mnist":
        path = find("mnist.npz")
        if path is None:
            raise missing(dataset, ["mnist.npz"], home, ORIGIN + "mnist.npz")
        return path
    if dataset == "fashion_mnist":
        for folder in cache_dirs():
            if all((folder / "fashion-mnist" / f).is_file() for f in FASHION_FILES):
                return folder / "fashion-mnist"
        absent = [f for f in FASHION_FILES if not (home / "fashion-mnist" / f).is_file()]
        raise missing(dataset, absent, home / "fashion-mnist", ORIGIN + "<file>")
    folder, archive = CIFAR[dataset]
    # Keras 3 layout first (archive saved as <folder>-target_archive, extracted to <folder>-target/),
    # then the Keras 2 layout and the archive as published.
    path = find(f"{folder}-target/{folder}", folder, f"{folder}-target_archive", f"{folder}.tar.gz", archive)
    if path is None:
        raise missing(dataset, [archive], home, f"https://www.cs.toronto.edu/~kriz/{archive}")
    return path
