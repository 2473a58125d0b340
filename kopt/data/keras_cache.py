"""``mnist``, ``fashion_mnist``, ``cifar10`` and ``cifar100`` from the ``keras.datasets`` cache.

The files are read here, in exactly the formats ``keras.datasets.*.load_data`` reads, from the
folder it caches them in: ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``). Keras'
own loaders are not called because they download whenever a file is missing or its hash
differs; kopt never downloads. A missing file costs one line naming the file to place where.

The official test split of each of these datasets becomes the run's fixed test set.
"""

from __future__ import annotations

import gzip
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from kopt.data.base import Data, loader, with_fixed_test
from kopt.errors import KoptError
from kopt.keras_files import CIFAR, FASHION_FILES, locate

FASHION_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _corrupt(dataset: str, path: Path, detail: str) -> KoptError:
    return KoptError(f"dataset={dataset}: cannot read {path}: {detail}; replace the file")


@loader("mnist")
def load_mnist(cfg) -> Data:
    path = locate("mnist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = [z[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except KeyError as exc:
        raise _corrupt("mnist", path, f"missing key {exc}; expected x_train, y_train, x_test, y_test") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _corrupt("mnist", path, str(exc)) from None
    return with_fixed_test(*arrays, name="mnist", kind="image", class_names=[str(c) for c in range(10)])


def _idx_file(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), np.uint8, offset=offset)


@loader("fashion_mnist")
def load_fashion_mnist(cfg) -> Data:
    folder = locate("fashion_mnist")
    paths = [folder / f for f in FASHION_FILES]
    try:
        y_train, y_test = _idx_file(paths[1], 8), _idx_file(paths[3], 8)
        x_train = _idx_file(paths[0], 16).reshape(len(y_train), 28, 28)
        x_test = _idx_file(paths[2], 16).reshape(len(y_test), 28, 28)
    except (OSError, ValueError, EOFError) as exc:
        raise _corrupt("fashion_mnist", paths[0].parent, str(exc)) from None
    return with_fixed_test(
        x_train, y_train, x_test, y_test, name="fashion_mnist", kind="image", class_names=list(FASHION_NAMES)
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR batches are pickled dicts of numpy arrays; nothing else may be reconstructed."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


class _CifarSource:
    """A CIFAR python-version folder, either extracted on disk or inside its .tar.gz archive."""

    def __init__(self, path: Path, folder: str):
        self.path, self.folder = path, folder
        self.tar = tarfile.open(path, "r:*") if path.is_file() else None

    def read(self, member: str) -> dict:
        if self.tar is None:
            fh = open(self.path / member, "rb")
        else:
            try:
                fh = self.tar.extractfile(f"{self.folder}/{member}")
            except KeyError:
                raise FileNotFoundError(f"{self.folder}/{member} is not in the archive") from None
        with fh:
            raw = _NumpyOnlyUnpickler(fh, encoding="bytes").load()
        return {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in raw.items()}

    def close(self):
        if self.tar is not None:
            self.tar.close()


def _cifar_source(dataset: str, folder: str) -> _CifarSource:
    path = locate(dataset)
    try:
        return _CifarSource(path, folder)
    except (OSError, tarfile.TarError) as exc:
        raise _corrupt(dataset, path, str(exc)) from None


def _cifar_batch(source: _CifarSource, member: str, label_key: str, dataset: str):
    try:
        d = source.read(member)
        x = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.asarray(d[label_key]).reshape(-1)
    except KeyError as exc:
        raise _corrupt(dataset, source.path, f"{member} has no key {exc}") from None
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, tarfile.TarError) as exc:
        raise _corrupt(dataset, source.path, f"{member}: {exc}") from None
    return x, y


def _cifar_meta(source: _CifarSource, member: str, key: str) -> list[str] | None:
    try:
        names = source.read(member)[key]
    except Exception:  # the names are a nicety; numbered classes will do
        return None
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


@loader("cifar10")
def load_cifar10(cfg) -> Data:
    source = _cifar_source("cifar10", CIFAR["cifar10"][0])
    try:
        parts = [_cifar_batch(source, f"data_batch_{i}", "labels", "cifar10") for i in range(1, 6)]
        x_test, y_test = _cifar_batch(source, "test_batch", "labels", "cifar10")
        names = _cifar_meta(source, "batches.meta", "label_names") or list(CIFAR10_NAMES)
    finally:
        source.close()
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return with_fixed_test(x_train, y_train, x_test, y_test, name="cifar10", kind="image", class_names=names)


@loader("cifar100")
def load_cifar100(cfg) -> Data:
    mode = cfg.label_mode
    source = _cifar_source("cifar100", CIFAR["cifar100"][0])
    try:
        x_train, y_train = _cifar_batch(source, "train", f"{mode}_labels", "cifar100")
        x_test, y_test = _cifar_batch(source, "test", f"{mode}_labels", "cifar100")
        names = _cifar_meta(source, "meta", f"{mode}_label_names")
    finally:
        source.close()
    classes = 100 if mode == "fine" else 20
    names = names if names and len(names) == classes else [str(c) for c in range(classes)]
    return with_fixed_test(x_train, y_train, x_test, y_test, name="cifar100", kind="image", class_names=names)
