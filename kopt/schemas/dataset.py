"""The ``dataset`` group's schemas, with each option's facts (checked before TensorFlow loads).

Facts stated at registration, read with :func:`dataset_kind`, :func:`dataset_channels` and
:func:`input_signature`: ``kind`` ("tabular", "image", or "unknown" until loaded), ``channels``
(of images), ``flip`` (False for digits and characters, which change meaning when mirrored) and
``signature`` ((input shape, classes), when the config tells them without loading the data) and
``task`` (what ``dataset.task=auto`` is, where the labels are always classes; else ``auto``).
A fact that depends on the config is a function of the typed config.
"""

from dataclasses import dataclass
from pathlib import Path

from kopt.errors import KoptError
from kopt.schemas import fact, param, schema
from kopt.schemas.metrics import TASKS


def dataset_kind(node) -> str:
    """ "tabular", "image" or "unknown" (an npz file: known once loaded), from the config alone."""
    return fact("dataset", node.get("name"), "kind", "image", node)


def dataset_channels(node) -> int | None:
    """Image channels known from the config alone, else None."""
    return fact("dataset", node.get("name"), "channels", None, node)


def input_signature(node) -> tuple[tuple[int, ...], int] | None:
    """(input shape, classes) when the config alone tells them, else None (then only loading tells)."""
    return fact("dataset", node.get("name"), "signature", None, node)


def can_flip(name: str) -> bool:
    """Whether mirrored images of dataset ``name`` keep their meaning (``augment.flip: null``)."""
    return fact("dataset", name, "flip", True)


def check_file(prefix: str, key: str, path: str | None, folder: bool = False, required: bool = True) -> None:
    """Missing files cost one line now, not after TensorFlow has loaded (a fact of this machine:
    a schema's ``check_machine``)."""
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
    from kopt.keras_files import locate

    locate(name)


@schema("dataset", "iris", "wine", "breast_cancer", kind="tabular", task="multiclass")
@schema("dataset", "digits", kind="image", channels=1, flip=False, signature=((8, 8, 1), 10), task="multiclass")
@dataclass
class BundledConfig:
    """Datasets bundled with scikit-learn: always offline."""

    name: str
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    limit: int | None = param(ge=10)


DigitsConfig = BundledConfig  # the name it had before the tabular datasets joined it


def _synthetic_signature(cfg) -> tuple[tuple[int, ...], int]:
    return tuple(int(s) for s in cfg.shape), int(cfg.classes)


@schema(
    "dataset",
    "synthetic",
    kind=lambda cfg: "tabular" if len(cfg.shape) == 1 else "image",
    channels=lambda cfg: {2: 1, 3: int(cfg.shape[-1])}.get(len(cfg.shape)),
    signature=_synthetic_signature,
    task="multiclass",
)
@dataclass
class SyntheticConfig:
    name: str
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    shape: list[int] = param(ge=1)
    classes: int = param(ge=2)
    size: int = param(ge=10)
    noise: float = param(ge=0)
    limit: int | None = param(ge=10)

    def check(self, prefix: str) -> None:
        if self.size < 5 * self.classes:
            raise KoptError(
                f"{prefix}.size={self.size} is too small; allowed: >= 5 x {prefix}.classes ({5 * self.classes})"
            )
        if not 1 <= len(self.shape) <= 3:
            raise KoptError(f"{prefix}.shape={self.shape}: allowed: [features], [H, W] or [H, W, C]")


@schema("dataset", "mnist", kind="image", channels=1, flip=False, signature=((28, 28, 1), 10), task="multiclass")
@schema("dataset", "fashion_mnist", kind="image", channels=1, signature=((28, 28, 1), 10), task="multiclass")
@schema("dataset", "cifar10", kind="image", channels=3, signature=((32, 32, 3), 10), task="multiclass")
@dataclass
class KerasDatasetConfig:
    """A ``keras.datasets`` dataset read from the standard cache ($KERAS_HOME/datasets or
    ~/.keras/datasets); never downloaded. Its official test split is the fixed test set."""

    name: str
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    limit: int | None = param(ge=10)

    def check_machine(self, prefix: str) -> None:
        check_keras_cache(self.name)


@schema(
    "dataset",
    "cifar100",
    kind="image",
    channels=3,
    signature=lambda cfg: ((32, 32, 3), 20 if cfg.label_mode == "coarse" else 100),
    task="multiclass",
)
@dataclass
class Cifar100Config:
    name: str
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    label_mode: str = param(choices=["fine", "coarse"])
    limit: int | None = param(ge=10)

    def check_machine(self, prefix: str) -> None:
        check_keras_cache(self.name)


@schema("dataset", "npz", kind="unknown")
@dataclass
class NpzConfig:
    """Arrays x_train, y_train (and optionally x_test, y_test: then the fixed test set)."""

    name: str
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    path: str | None
    classes: int | None = param(ge=2)
    groups: str | None
    limit: int | None = param(ge=10)

    def check_machine(self, prefix: str) -> None:
        check_file(prefix, "path", self.path)


@schema(
    "dataset",
    "images",
    kind="image",
    channels=lambda cfg: {"grayscale": 1, "rgb": 3, "rgba": 4}.get(cfg.color_mode),
    task="multiclass",
)
@dataclass
class ImagesConfig:
    """A folder with one sub-folder of images per class, streamed from disk (kopt.data.images)."""

    name: str
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    path: str | None
    test_path: str | None
    image_size: list[int] = param(ge=1)
    color_mode: str = param(choices=["grayscale", "rgb", "rgba"])
    limit: int | None = param(ge=10)

    def check(self, prefix: str) -> None:
        if len(self.image_size) != 2:
            raise KoptError(f"{prefix}.image_size={self.image_size}: allowed: [height, width]")

    def check_machine(self, prefix: str) -> None:
        check_file(prefix, "path", self.path, folder=True)
        check_file(prefix, "test_path", self.test_path, folder=True, required=False)
