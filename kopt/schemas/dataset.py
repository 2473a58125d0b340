from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from kopt.errors import KoptError
from kopt.schemas import files, param, schema

TABULAR_DATASETS = {"iris", "wine", "breast_cancer", "csv"}
# Digits and characters change meaning when mirrored: flips stay off unless asked for.
NO_FLIP_DATASETS = {"digits", "mnist"}


def dataset_kind(node) -> str:
    """"tabular", "image" or "unknown" (an npz file: known once loaded), from the config alone."""
    name = node.get("name")
    if name in TABULAR_DATASETS:
        return "tabular"
    if name == "synthetic":
        return "tabular" if len(node.get("shape") or []) == 1 else "image"
    if name == "npz":
        return "unknown"
    return "image"


def dataset_channels(node) -> Optional[int]:
    """Image channels known from the config alone, else None."""
    name = node.get("name")
    if name in ("digits", "mnist", "fashion_mnist"):
        return 1
    if name in ("cifar10", "cifar100"):
        return 3
    if name == "images":
        return {"grayscale": 1, "rgb": 3, "rgba": 4}.get(node.get("color_mode"))
    if name == "synthetic" and len(node.get("shape") or []) == 3:
        return int(node.shape[2])
    if name == "synthetic" and len(node.get("shape") or []) == 2:
        return 1
    return None


def check_file(prefix: str, key: str, path: Optional[str], folder: bool = False, required: bool = True) -> None:
    """Missing files cost one line now, not after TensorFlow has loaded."""
    if not files["check"]:
        return
    if path is None or str(path) == "":
        if required:
            raise KoptError(f"{prefix}.{key} is required; set {prefix}.{key}=/path/to/{'folder' if folder else 'file'}")
        return
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise KoptError(f"{prefix}.{key}={path}: no such {'folder' if folder else 'file'}")
    if folder and not p.is_dir():
        raise KoptError(f"{prefix}.{key}={path}: not a folder; give the folder that holds one sub-folder per class")
    if not folder and p.is_dir():
        raise KoptError(f"{prefix}.{key}={path}: is a folder; give a file")
    if not folder and not p.is_file():
        raise KoptError(f"{prefix}.{key}={path}: not a regular file (a device, FIFO or socket); give a file")


def check_keras_cache(name: str) -> None:
    """A keras.datasets file that is not cached costs one line before a run starts (no TF needed)."""
    if not files["check"]:
        return
    from kopt.keras_files import locate

    locate(name)


@schema("dataset", "digits", "iris", "wine", "breast_cancer")
@dataclass
class BundledConfig:
    """Datasets bundled with scikit-learn: always offline."""

    name: str = "digits"
    limit: Optional[int] = param(None, ge=10)


DigitsConfig = BundledConfig  # the name it had before the tabular datasets joined it


@schema("dataset", "synthetic")
@dataclass
class SyntheticConfig:
    name: str = "synthetic"
    shape: list[int] = param(factory=lambda: [8, 8, 1], ge=1)
    classes: int = param(10, ge=2)
    size: int = param(1000, ge=10)
    noise: float = param(1.0, ge=0)
    limit: Optional[int] = param(None, ge=10)

    def check(self, prefix: str) -> None:
        if self.size < 5 * self.classes:
            raise KoptError(f"{prefix}.size={self.size} is too small; allowed: >= 5 x {prefix}.classes ({5 * self.classes})")
        if not 1 <= len(self.shape) <= 3:
            raise KoptError(f"{prefix}.shape={self.shape}: allowed: [features], [H, W] or [H, W, C]")


@schema("dataset", "mnist", "fashion_mnist", "cifar10")
@dataclass
class KerasDatasetConfig:
    """A ``keras.datasets`` dataset read from the standard cache ($KERAS_HOME/datasets or
    ~/.keras/datasets); never downloaded. Its official test split is the fixed test set."""

    name: str = "cifar10"
    limit: Optional[int] = param(None, ge=10)

    def check(self, prefix: str) -> None:
        check_keras_cache(self.name)


@schema("dataset", "cifar100")
@dataclass
class Cifar100Config:
    name: str = "cifar100"
    label_mode: str = param("fine", choices=["fine", "coarse"])
    limit: Optional[int] = param(None, ge=10)

    def check(self, prefix: str) -> None:
        check_keras_cache(self.name)


@schema("dataset", "npz")
@dataclass
class NpzConfig:
    """Arrays x_train, y_train (and optionally x_test, y_test: then the fixed test set)."""

    name: str = "npz"
    path: Optional[str] = None
    classes: Optional[int] = param(None, ge=2)
    limit: Optional[int] = param(None, ge=10)

    def check(self, prefix: str) -> None:
        check_file(prefix, "path", self.path)


@schema("dataset", "csv")
@dataclass
class CsvConfig:
    """A table with a header line: one label column, every other column a numeric feature."""

    name: str = "csv"
    path: Optional[str] = None
    label: str = "label"
    delimiter: str = ","
    test_path: Optional[str] = None
    limit: Optional[int] = param(None, ge=10)

    def check(self, prefix: str) -> None:
        check_file(prefix, "path", self.path)
        check_file(prefix, "test_path", self.test_path, required=False)
        if len(self.delimiter) != 1:
            raise KoptError(f"{prefix}.delimiter={self.delimiter!r}: allowed: one character")


@schema("dataset", "images")
@dataclass
class ImagesConfig:
    """A folder with one sub-folder of images per class (keras.utils.image_dataset_from_directory)."""

    name: str = "images"
    path: Optional[str] = None
    test_path: Optional[str] = None
    image_size: list[int] = param(factory=lambda: [32, 32], ge=1)
    color_mode: str = param("rgb", choices=["grayscale", "rgb", "rgba"])
    limit: Optional[int] = param(None, ge=10)

    def check(self, prefix: str) -> None:
        check_file(prefix, "path", self.path, folder=True)
        check_file(prefix, "test_path", self.test_path, folder=True, required=False)
        if len(self.image_size) != 2:
            raise KoptError(f"{prefix}.image_size={self.image_size}: allowed: [height, width]")
