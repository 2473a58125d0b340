"""``dataset=custom``: your own data, loaded by the function ``dataset._target_`` names (Hydra's
convention, resolved through :mod:`kopt.targets`, the one rule for what a ``_target_`` may name).

The target is called as ``target(**your keys)`` (every key of the node but ``name``, ``_target_``,
``task`` and ``limit``) and returns a mapping with

* ``x``: the features, ``(n, features)`` or images ``(n, H, W)`` / ``(n, H, W, C)``;
* ``y``: one label per row: class indices 0..C-1, or any values (strings: each distinct one a class);
* optionally ``groups`` (one per row, for ``split=group_kfold``), ``x_test`` and ``y_test`` (a fixed
  test set), ``class_names`` and ``feature_names`` (one per feature column of tabular ``x``).

What it returns is checked key by key (one line naming the key: wrong shapes, wrong lengths, NaN
labels, an empty result) by the ``precheck``, before any run dir; the run calls the target again,
so it must return the same data each time (read files, or draw with a fixed seed).
This module with ``configs/dataset/custom.yaml`` is the whole option. No numpy at module level.
"""

from __future__ import annotations

from dataclasses import dataclass

from kopt.data.base import Data, check_data, loader, with_fixed_test
from kopt.errors import KoptError
from kopt.schemas import param, schema
from kopt.schemas.metrics import TASKS

KEYS = ("x", "y", "groups", "x_test", "y_test", "class_names", "feature_names", "files", "decode")
OWN_KEYS = ("name", "_target_", "task", "limit")  # kopt's keys, never passed to your loader


@schema("dataset", "custom", kind="unknown")
@dataclass
class CustomDatasetConfig:
    """Your own loader (kopt.data.sources.custom): ``_target_`` names it; every other key of the
    node but ``task`` and ``limit`` is passed to it as a keyword argument (``params``)."""

    name: str
    _target_: str | None
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    limit: int | None = param(ge=10)

    OPEN = True  # keys beyond the fields are the loader's own, collected in ``params``

    def check(self, prefix: str) -> None:
        from kopt import targets

        if self._target_ is None:
            raise KoptError(
                f"{prefix}._target_: missing; dataset=custom needs the function that loads your data, "
                f"e.g. {prefix}._target_=myloader.load"
            )
        for key in getattr(self, "params", {}):
            if key.startswith("_"):
                raise KoptError(f"{prefix}.{key}: is not supported; allowed: _target_, limit and keys of your own")
        targets.check(self._target_, f"{prefix}._target_", look=False)  # nothing is imported here

    def check_machine(self, prefix: str) -> None:
        from kopt import targets

        targets.check(self._target_, f"{prefix}._target_")  # your module is on the import path (not imported)


def _array(result: dict, key: str, where: str):
    import numpy as np

    value = result[key]
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise KoptError(f"{where}: '{key}' is not an array ({type(exc).__name__}); {_EXPECTED}") from None
    if array.dtype == object:
        if key in ("x", "x_test"):
            raise KoptError(f"{where}: '{key}' holds objects (dtype object, ragged rows?); expected numbers")
        array = array.astype(str)
    if array.ndim == 0:
        raise KoptError(f"{where}: '{key}' is a single value; {_EXPECTED}")
    return array


_EXPECTED = "expected a mapping with x (n, ...) and y (n,), optionally groups, x_test, y_test, class_names"


def _labels(y, key: str, where: str):
    """``y`` as one label per row: numbers (no NaN) or strings; (n, 1) is taken as (n,)."""
    import numpy as np

    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise KoptError(f"{where}: '{key}' has shape {y.shape}; expected one label per row, shape (n,)")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        i = int(np.argmax(~np.isfinite(y)))
        raise KoptError(f"{where}: '{key}'[{i}] is {y[i]}; every row needs a class (drop the unlabelled rows)")
    return y


def _encode(y, y_test, class_names, where: str):
    """(y, y_test, class names): class indices as they are; other labels (text) as sorted classes."""
    import numpy as np

    numeric = np.issubdtype(y.dtype, np.number) or y.dtype == bool
    if numeric and (y_test is None or np.issubdtype(y_test.dtype, np.number) or y_test.dtype == bool):
        return y, y_test, class_names
    values = list(class_names) if class_names else sorted({str(v) for v in y.tolist()})
    index = {v: i for i, v in enumerate(values)}
    unknown = sorted({str(v) for v in y.tolist()} - set(values))
    if unknown:
        raise KoptError(f"{where}: 'y' has label {unknown[0]!r}, which is not in 'class_names'")
    encoded = np.array([index[str(v)] for v in y.tolist()], dtype="int64")
    if y_test is None:
        return encoded, None, values
    unknown = sorted({str(v) for v in y_test.tolist()} - set(values))
    if unknown:
        raise KoptError(f"{where}: 'y_test' has label {unknown[0]!r}, which no row of 'y' has")
    return encoded, np.array([index[str(v)] for v in y_test.tolist()], dtype="int64"), values


def _names(result: dict, key: str, where: str) -> list[str] | None:
    value = result.get(key)
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise KoptError(f"{where}: '{key}' is a {type(value).__name__}; expected a list of names")
    return [str(v) for v in value]


def check_result(result, where: str, name: str, task: str = "auto") -> Data:
    """What your loader returned, checked key by key (one line naming the key), as a :class:`Data`."""
    import numpy as np

    if not hasattr(result, "keys") or not hasattr(result, "__getitem__"):
        raise KoptError(f"{where}: returned a {type(result).__name__}; {_EXPECTED}")
    unknown = [str(k) for k in result.keys() if k not in KEYS]
    if unknown:
        raise KoptError(f"{where}: returned unknown key '{unknown[0]}'; allowed: {', '.join(KEYS)}")
    if result.get("files") is not None or result.get("decode") is not None:
        return check_files(result, where, name, task)
    missing = [k for k in ("x", "y") if result.get(k) is None]
    if missing:
        raise KoptError(f"{where}: returned no '{missing[0]}'; {_EXPECTED}")
    if (result.get("x_test") is None) != (result.get("y_test") is None):
        raise KoptError(f"{where}: returned only one of 'x_test', 'y_test'; give both or neither")
    values = task in ("regression", "multilabel")  # labels kept as values: check_data reads them for the task
    y = _array(result, "y", where)
    x, y = _array(result, "x", where), (y if values else _labels(y, "y", where))
    if len(x) == 0:
        raise KoptError(f"{where}: 'x' is empty (0 rows); the loader returned no data")
    if x.ndim not in (2, 3, 4):
        raise KoptError(f"{where}: 'x' has shape {x.shape}; expected (n, features), (n, H, W) or (n, H, W, C)")
    if len(y) != len(x):
        raise KoptError(f"{where}: 'y' has {len(y)} labels but 'x' has {len(x)} rows; they must match")
    x_test = y_test = None
    if result.get("x_test") is not None:
        x_test, y_test = _array(result, "x_test", where), _array(result, "y_test", where)
        y_test = y_test if values else _labels(y_test, "y_test", where)
        if len(x_test) == 0:
            raise KoptError(f"{where}: 'x_test' is empty; leave out x_test/y_test to let split.test_size choose one")
        if x_test.shape[1:] != x.shape[1:]:
            raise KoptError(
                f"{where}: 'x_test' has rows of shape {x_test.shape[1:]} but 'x' {x.shape[1:]}; they must match"
            )
        if len(y_test) != len(x_test):
            raise KoptError(
                f"{where}: 'y_test' has {len(y_test)} labels but 'x_test' has {len(x_test)} rows; they must match"
            )
    for key, rows in (("x", x), ("x_test", x_test)):
        if rows is not None and not np.issubdtype(rows.dtype, np.number) and rows.dtype != bool:
            raise KoptError(f"{where}: '{key}' has dtype {rows.dtype}; expected numbers")
    class_names, features = _names(result, "class_names", where), _names(result, "feature_names", where)
    if features is not None and (x.ndim != 2 or len(features) != x.shape[1]):
        raise KoptError(
            f"{where}: 'feature_names' has {len(features)} names but 'x' has rows of shape {x.shape[1:]}; "
            "expected one name per feature column"
        )
    if not values:
        y, y_test, class_names = _encode(y, y_test, class_names, where)
    groups = None
    if result.get("groups") is not None:
        groups = _array(result, "groups", where)
        if groups.ndim != 1 or len(groups) != len(x):
            raise KoptError(
                f"{where}: 'groups' has shape {groups.shape}; expected one group per row of 'x', ({len(x)},)"
            )
    meta = dict(name=name, kind="image" if x.ndim >= 3 else "tabular", class_names=class_names or [])
    if x_test is None:
        data = Data(x, y, groups=groups, **meta)
    else:
        data = with_fixed_test(x, y, x_test, y_test, **meta)
        if groups is not None:  # the fixed test rows' groups are never read: they repeat the first group
            data.groups = np.concatenate([groups, np.repeat(groups[:1], len(x_test))])
    return check_data(data, where, task)


def check_files(result, where: str, name: str, task: str = "auto") -> Data:
    """``files`` (paths) and ``decode`` (path -> one example): examples read as they stream
    (kopt.data.images.FileExamples); the first file is decoded now, for the examples' shape."""
    import numpy as np

    from kopt import targets
    from kopt.data.images import FileExamples

    if result.get("files") is None or result.get("decode") is None:
        missing = "files" if result.get("files") is None else "decode"
        raise KoptError(f"{where}: returned no '{missing}'; files (paths) and decode (path -> one example) go together")
    for key in ("x", "x_test", "y_test"):
        if result.get(key) is not None:
            raise KoptError(f"{where}: returned both 'files' and '{key}'; give x (arrays) or files and decode")
    if result.get("y") is None:
        raise KoptError(f"{where}: returned no 'y'; one label per file")
    decode = result["decode"]
    if isinstance(decode, str):
        decode = targets.resolve(decode, f"{where}: decode")
    if not callable(decode):
        raise KoptError(f"{where}: 'decode' is a {type(decode).__name__}; expected a function of one path")
    files = _array(result, "files", where).astype(str)
    if files.ndim != 1 or len(files) == 0:
        raise KoptError(f"{where}: 'files' has shape {files.shape}; expected a non-empty list of paths")
    values = task in ("regression", "multilabel")
    y = _array(result, "y", where)
    y = y if values else _labels(y, "y", where)
    if len(y) != len(files):
        raise KoptError(f"{where}: 'y' has {len(y)} labels but 'files' has {len(files)} paths; they must match")
    first = np.asarray(FileExamples(files[:1], decode, (), where).decode(str(files[0])))
    if first.ndim not in (1, 3):
        raise KoptError(
            f"{where}: decode({str(files[0])!r}) returned shape {first.shape}; expected (features,) or (H, W, C)"
        )
    x = FileExamples(files, decode, first.shape, where)
    x.read(str(files[0]))  # numbers, finite
    class_names = _names(result, "class_names", where)
    if not values:
        y, _, class_names = _encode(y, None, class_names, where)
    groups = None
    if result.get("groups") is not None:
        groups = _array(result, "groups", where)
        if groups.ndim != 1 or len(groups) != len(files):
            raise KoptError(f"{where}: 'groups' has shape {groups.shape}; expected one group per file, ({len(files)},)")
    kind = "image" if first.ndim == 3 else "tabular"
    return check_data(Data(x, y, name, kind, class_names or [], groups=groups), where, task)


def precheck(cfg) -> Data:
    """Call your loader once (no TensorFlow: unless your module imports it) and check what it
    returns; returns it, so that each job's split is tried on its labels before any run dir."""
    return load_custom(cfg)


@loader("custom", precheck=precheck)
def load_custom(cfg) -> Data:
    from kopt import targets

    key = "dataset._target_"
    params = dict(getattr(cfg, "params", {}))
    fn = targets.resolve(cfg._target_, key, params)
    where = f"{key}={cfg._target_}"
    try:
        result = fn(**params)
    except KoptError:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise KoptError(f"{where}: your loader raised {type(exc).__name__} ({reason})") from None
    return check_result(result, where, cfg.name, cfg.task)
