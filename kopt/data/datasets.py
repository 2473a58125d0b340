"""The ``dataset`` group: each option is a loader returning a :class:`Data`.

Loaders live in small modules by source (:mod:`kopt.data.bundled`, :mod:`kopt.data.keras_cache`,
:mod:`kopt.data.files`, and one module per dataset in :mod:`kopt.data.sources`) and register
themselves in :data:`LOADERS` with :func:`loader`. No loader touches the network. :func:`load_dataset` checks what a loader returns (shapes, labels, finite features), so
bad data costs one clear line before any model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from kopt.errors import KoptError
from kopt.registry import Registry


@dataclass
class Data:
    x: np.ndarray                 # float32 features: (n, H, W, C) images or (n, features) tabular
    y: np.ndarray                 # int64 labels in 0..num_classes-1
    name: str
    kind: str                     # "image" (x is 4-D) or "tabular" (x is 2-D)
    class_names: list[str] = field(default_factory=list)
    test_idx: np.ndarray | None = None  # a fixed test set shipped with the data (sorted indices into x)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# dataset option -> loader(cfg[, seed]) -> Data. Fact: ``precheck(cfg)``, a cheap look at the user's
# files (numpy/Pillow, no TensorFlow) before any run dir exists (see check_files_content).
LOADERS = Registry("dataset", ("kopt.data.bundled", "kopt.data.files", "kopt.data.keras_cache", "kopt.data.sources"))
loader = LOADERS.register


def with_fixed_test(x_train, y_train, x_test, y_test, **meta) -> Data:
    """One :class:`Data` holding train then test samples; the test part becomes ``test_idx``."""
    x_train, x_test, y_train, y_test = map(np.asarray, (x_train, x_test, y_train, y_test))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise KoptError(f"dataset={meta.get('name')}: training samples have shape {x_train.shape[1:]} but test "
                        f"samples {x_test.shape[1:]}; they must match")
    for what, xs, ys in (("training", x_train, y_train), ("test", x_test, y_test)):
        if len(xs) != len(ys):
            raise KoptError(f"dataset={meta.get('name')}: {len(xs)} {what} samples but {len(ys)} {what} labels; "
                            "they must match")
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
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise KoptError(f"{what} has shape {y.shape}; expected one integer label per sample, shape (n,)")
    if y.dtype == bool or np.issubdtype(y.dtype, np.integer):
        return y.astype("int64")
    if not np.issubdtype(y.dtype, np.floating):
        raise KoptError(f"{what} has dtype {y.dtype}; expected integer class labels 0..C-1")
    bad = ~np.isfinite(y) | (y != np.round(y))
    if bad.any():
        i = int(np.argmax(bad))
        raise KoptError(f"{what}[{i}] = {y[i]!r} is not an integer; labels must be integer classes 0..C-1")
    return y.astype("int64")


def check_data(data: Data, source: str) -> Data:
    """Shapes, label range and finite features; returns the data with float32 x and int64 y."""
    x = np.asarray(data.x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise KoptError(f"{source}: features have dtype {x.dtype}; expected numbers")
    y = integer_labels(data.y, f"{source}: labels")
    if len(x) != len(y):
        raise KoptError(f"{source}: {len(x)} samples but {len(y)} labels; they must match")
    if len(y) == 0:
        raise KoptError(f"{source}: no samples")
    x = as_image(x, f"{source}: features").astype("float32", copy=False)
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise KoptError(f"{source}: {int(bad.sum())} samples have NaN/inf features (first: sample {int(np.argmax(bad))}); "
                        "clean or drop them")
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
        raise KoptError(f"{source}: class {missing} has no training samples; labels must be 0..C-1 with every class present")
    names = list(data.class_names) or [str(c) for c in range(classes)]
    kind = "image" if x.ndim == 4 else "tabular"
    return replace(data, x=x, y=y, kind=kind, class_names=names)


def _subset(idx: np.ndarray, y: np.ndarray, size: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    if size >= len(idx):
        return idx
    keep, _ = train_test_split(idx, train_size=size, stratify=y[idx], random_state=seed)
    return np.sort(keep)


def stratified_limit(data: Data, limit: int | None, seed: int) -> Data:
    """A stratified subset of ``limit`` samples; a fixed test set keeps its share of them."""
    if not limit or limit >= len(data.y):
        return data
    limit, n = int(limit), len(data.y)
    try:
        if data.test_idx is None:
            keep, test_idx = _subset(np.arange(n), data.y, limit, seed), None
        else:
            pool = np.setdiff1d(np.arange(n), data.test_idx)
            n_test = max(1, round(limit * len(data.test_idx) / n))
            keep_pool = _subset(pool, data.y, limit - n_test, seed)
            keep_test = _subset(data.test_idx, data.y, n_test, seed)
            keep = np.concatenate([keep_pool, keep_test])
            test_idx = np.arange(len(keep_pool), len(keep), dtype="int64")
    except ValueError as exc:
        raise KoptError(f"dataset.limit={limit}: {exc}") from None
    return replace(data, x=data.x[keep], y=data.y[keep], test_idx=test_idx)


def load_dataset(cfg, seed: int) -> Data:
    """The ``dataset`` config's data, checked; loaders receive the typed config (kopt.validate.typed_option)."""
    from kopt.validate import typed_option

    cfg = typed_option("dataset", cfg)
    name = cfg.name
    fn = LOADERS.get(name)
    data = fn(cfg, seed=seed) if "seed" in fn.__code__.co_varnames else fn(cfg)
    data = check_data(data, f"dataset={name}")
    return stratified_limit(data, cfg.limit, seed)


def check_files_content(cfgs) -> None:
    """Run the ``precheck`` of each distinct dataset of a command line that states one (``npz``,
    ``csv``: read once with numpy; ``images``: folder structure and image headers), so that bad
    content costs one line before any run dir is created."""
    seen = []
    for cfg in cfgs:
        node = cfg.get("dataset")
        if node is None or node in seen or node.get("name") not in LOADERS:
            continue
        seen.append(node)
        from kopt.validate import typed_option

        LOADERS.fact(node.name, "precheck", config=typed_option("dataset", node))
