"""A dataset in memory (:class:`Data`), the loader registry and the checks every loader's output passes.

The loader modules (:mod:`kopt.data.bundled`, :mod:`kopt.data.keras_cache`, :mod:`kopt.data.files`,
:mod:`kopt.data.sources`)
import from here and :mod:`kopt.data.datasets` imports them: the imports run one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from kopt.errors import KoptError
from kopt.registry import Registry

if TYPE_CHECKING:  # numpy loads with the first array, not with this module
    import numpy as np


@dataclass
class Data:
    x: np.ndarray  # float32 features: (n, H, W, C) images or (n, features) tabular; image files: kopt.data.images
    y: np.ndarray  # int64 labels in 0..num_classes-1
    name: str
    kind: str  # "image" (x is 4-D) or "tabular" (x is 2-D)
    class_names: list[str] = field(default_factory=list)
    test_idx: np.ndarray | None = None  # a fixed test set shipped with the data (sorted indices into x)
    groups: np.ndarray | None = None  # one group per sample (dataset.groups), for split=group_kfold
    order: np.ndarray | None = None  # one sortable time per sample (dataset.order), for split=time
    encoding: dict | None = None  # a table's encoding (kopt.data.table), saved as the run's table.json
    task: str = "multiclass"  # dataset.task, resolved from the labels (check_data): kopt.schemas.metrics.TASKS

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def outputs(self) -> int:
        """The model's outputs: one value (regression), one per label (multilabel), one per class."""
        return 1 if self.task == "regression" else self.num_classes

    @property
    def stratify(self) -> bool:
        """Whether the splits keep the classes' shares (not for values, nor for label sets)."""
        return self.task not in ("regression", "multilabel")


# dataset option -> loader(cfg[, seed]) -> Data. Fact: ``precheck(cfg)``, a cheap look at the user's
# files (numpy/Pillow, no TensorFlow) before any run dir exists (see datasets.check_files_content).
# The registry imports the loader modules on the first look-up; they import this module.
LOADERS = Registry("dataset", ("kopt.data.bundled", "kopt.data.files", "kopt.data.keras_cache", "kopt.data.sources"))
loader = LOADERS.register


def with_fixed_test(x_train, y_train, x_test, y_test, **meta) -> Data:
    """One :class:`Data` holding train then test samples; the test part becomes ``test_idx``."""
    import numpy as np  # (loaded by the loaders; not when the dataset registry is only read)

    x_train, x_test, y_train, y_test = map(np.asarray, (x_train, x_test, y_train, y_test))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise KoptError(
            f"dataset={meta.get('name')}: training samples have shape {x_train.shape[1:]} but test "
            f"samples {x_test.shape[1:]}; they must match"
        )
    for what, xs, ys in (("training", x_train, y_train), ("test", x_test, y_test)):
        if len(xs) != len(ys):
            raise KoptError(
                f"dataset={meta.get('name')}: {len(xs)} {what} samples but {len(ys)} {what} labels; they must match"
            )
    x = np.concatenate([x_train, x_test])
    y = np.concatenate([y_train.reshape(len(y_train), -1), y_test.reshape(len(y_test), -1)])
    y = y[:, 0] if y.shape[1] == 1 else y  # (n, 1) labels as keras ships them; other shapes fail in check_data
    test_idx = np.arange(len(y_train), len(y), dtype="int64")
    return Data(x, y, test_idx=test_idx, **meta)


def as_image(x: np.ndarray, what: str) -> np.ndarray:
    """(n, H, W) -> (n, H, W, 1); images and tabular arrays pass through; anything else is an error."""
    if x.ndim == 3:
        return x[..., None]
    if x.ndim in (2, 4):
        return x
    raise KoptError(f"{what} has shape {x.shape}; expected (n, features), (n, H, W) or (n, H, W, C)")


def integer_labels(y: np.ndarray, what: str) -> np.ndarray:
    """Labels as int64, refusing non-integer values with the first offending one named."""
    import numpy as np  # (loaded by the loaders; not when the dataset registry is only read)

    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise KoptError(
            f"{what} has shape {y.shape}; expected one integer label per sample, shape (n,) (a 0/1 matrix "
            "of several labels per sample: dataset.task=multilabel)"
        )
    if y.dtype == bool or np.issubdtype(y.dtype, np.integer):
        return y.astype("int64")
    if not np.issubdtype(y.dtype, np.floating):
        raise KoptError(f"{what} has dtype {y.dtype}; expected integer class labels 0..C-1")
    bad = ~np.isfinite(y) | (y != np.round(y))
    if bad.any():
        i = int(np.argmax(bad))
        raise KoptError(f"{what}[{i}] = {y[i]!r} is not an integer; labels must be integer classes 0..C-1")
    return y.astype("int64")


def resolve_task(y, task: str) -> str:
    """``dataset.task``; ``auto`` reads it from the labels: a 2-D matrix of 0/1 is multilabel (unless
    every row holds exactly one 1: one-hot classes, which are refused with a hint), numbers
    that are not all integers are a regression target, anything else multiclass (two classes too:
    ``binary`` is asked for, and trains the same 2-way softmax)."""
    import numpy as np

    if task != "auto":
        return task
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and y.size and np.issubdtype(y.dtype, np.number) and np.isin(y, (0, 1)).all():
        one_hot = (y.sum(axis=1) == 1).all()  # one class per sample: classes, one-hot (refused, with the hint)
        return "multiclass" if one_hot else "multilabel"
    if y.dtype != bool and np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y) & (y == np.round(y))):
        return "regression"
    return "multiclass"


def target_values(data: Data, source: str, task: str):
    """The labels of a regression (float32, one value per sample) or multilabel task (float32 0/1, (n, labels))."""
    import numpy as np

    y = np.asarray(data.y)
    if task == "regression":
        y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
        if y.ndim != 1 or not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise KoptError(
                f"{source}: labels have shape {y.shape} and dtype {y.dtype}; dataset.task=regression "
                "takes one number per sample, shape (n,)"
            )
        y = y.astype("float32")
        if not np.isfinite(y).all():
            raise KoptError(
                f"{source}: label {y[~np.isfinite(y)][0]} (sample {int(np.argmax(~np.isfinite(y)))}) "
                "is not a finite number; dataset.task=regression needs finite values"
            )
        return y, []
    if y.ndim != 2 or y.shape[1] < 2 or not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise KoptError(
            f"{source}: labels have shape {y.shape}; dataset.task=multilabel takes a 0/1 matrix, "
            "shape (n, labels) with labels >= 2"
        )
    if not np.isin(y, (0, 1)).all():
        raise KoptError(
            f"{source}: labels hold values other than 0 and 1; dataset.task=multilabel takes a 0/1 "
            "matrix, one column per label"
        )
    names = list(data.class_names) if len(data.class_names) == y.shape[1] else [str(i) for i in range(y.shape[1])]
    return y.astype("float32"), names


def check_data(data: Data, source: str, task: str = "auto") -> Data:
    """Shapes, label range and finite features; returns the data with float32 x and int64 y (float32
    values for a regression task, a float32 0/1 matrix for a multilabel one) and its task resolved."""
    import numpy as np  # (loaded by the loaders; not when the dataset registry is only read)

    streamed = hasattr(data.x, "decode_fn")  # image files (kopt.data.images): decoded as they stream
    x = data.x if streamed else np.asarray(data.x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise KoptError(f"{source}: features have dtype {x.dtype}; expected numbers")
    task = resolve_task(data.y, task)
    if task in ("regression", "multilabel"):
        y, names = target_values(data, source, task)
        if len(x) != len(y):
            raise KoptError(f"{source}: {len(x)} samples but {len(y)} labels; they must match")
        if len(y) == 0:
            raise KoptError(f"{source}: no samples")
        x = x if streamed else _finite_features(data, x, source)
        return replace(data, x=x, y=y, kind="image" if x.ndim == 4 else "tabular", class_names=names, task=task)
    y = integer_labels(data.y, f"{source}: labels")
    if len(x) != len(y):
        raise KoptError(f"{source}: {len(x)} samples but {len(y)} labels; they must match")
    if len(y) == 0:
        raise KoptError(f"{source}: no samples")
    if not streamed:  # (image files are decoded as they stream: their pixels are finite)
        x = _finite_features(data, x, source)
    train = np.ones(len(y), bool)
    if data.test_idx is not None:
        train[data.test_idx] = False
    classes = len(data.class_names) or int(y[train].max()) + 1  # a test label must be a training class
    if y.min() < 0 or y.max() >= classes:
        i = int(np.argmax((y < 0) | (y >= classes)))
        raise KoptError(f"{source}: label {y[i]} (sample {i}) is out of range; allowed: 0..{classes - 1}")
    if classes < 2:
        raise KoptError(f"{source}: one class only (every label is {int(y.max())}); a classifier needs at least 2")
    counts = np.bincount(y[train], minlength=classes)
    if (counts == 0).any():
        missing = int(np.argmin(counts))
        raise KoptError(
            f"{source}: class {missing} has no training samples; labels must be 0..C-1 with every class present"
        )
    if task == "binary" and classes != 2:
        raise KoptError(f"{source}: {classes} classes; dataset.task=binary takes 2 (allowed here: multiclass, auto)")
    names = list(data.class_names) or [str(c) for c in range(classes)]
    kind = "image" if x.ndim == 4 else "tabular"
    return replace(data, x=x, y=y, kind=kind, class_names=names, task=task)


def _finite_features(data: Data, x, source: str):
    import numpy as np

    x = as_image(x, f"{source}: features").astype("float32", copy=False)
    values = x.reshape(len(x), -1)
    imputed = data.encoding is not None and data.encoding.get("impute")  # NaN: each fold fills it (table.fold_fills)
    bad = ~(np.isfinite(values) | (np.isnan(values) if imputed else False)).all(axis=1)
    if bad.any():
        raise KoptError(
            f"{source}: {int(bad.sum())} samples have NaN/inf features (first: sample {int(np.argmax(bad))}); "
            "clean or drop them"
        )
    return x
