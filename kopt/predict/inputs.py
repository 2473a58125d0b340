"""INPUT of ``kopt predict``: raw examples (and labels, when the input has them), checked against
the model's input shape, in the units the model was trained on (it normalises them itself).

An ``.npz`` (``x`` or ``x_test``, with ``y``/``y_test`` and ``ids`` when present) or ``.npy``
array; a CSV with the training feature columns (an ``id`` column and the label column are
used when present); an image folder (class sub-folders give labels) or image files, decoded
and resized as ``dataset=images`` does; or ``dataset=NAME``, that dataset's test split.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kopt.errors import KoptError
from kopt.predict.source import Source
from kopt.predict.tables import TABLE_SUFFIXES, read_rows, run_encoding
from kopt.runfiles import BadFile, load_npy, load_npz, open_regular, read_bytes

MAX_IMAGE_BYTES = 64 << 20  # an image file larger than this is not one image to predict


@dataclass
class Inputs:
    x: np.ndarray  # (n, *input_shape) float32, raw
    ids: list[str]  # one per example: an id, a file name, or the row number
    y: np.ndarray | None  # class indices of the model's classes, when the input has labels
    what: str  # for messages: where the examples came from


def fit_to_model(x: np.ndarray, shape: tuple[int, ...], what: str, missing_ok: bool = False) -> np.ndarray:
    """``x`` as a float32 batch of the model's input shape, or one line saying what differs.
    ``missing_ok``: NaN passes (a model trained with dataset.impute fills it with its own values)."""
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise KoptError(f"{what}: values have dtype {x.dtype}; expected numbers")
    if np.iscomplexobj(x):  # the cast would drop the imaginary part
        raise KoptError(f"{what}: values have dtype {x.dtype}; expected real numbers")
    if x.shape == shape:  # a single example
        x = x[None]
    if len(shape) == 3 and shape[-1] == 1 and x.ndim == 3:  # (n, H, W) grey images
        x = x[..., None]
    if x.shape[1:] != shape:
        if len(shape) == 3 and x.ndim == 4 and x.shape[1:3] == shape[:2]:
            raise KoptError(f"{what}: images have {x.shape[-1]} channel(s); the model takes {shape[-1]}")
        if len(shape) == 1 and x.ndim == 2:
            raise KoptError(f"{what}: {x.shape[1]} features per example; the model takes {shape[0]}")
        raise KoptError(f"{what}: examples have shape {tuple(x.shape[1:])}; the model takes {shape}")
    if len(x) == 0:
        raise KoptError(f"{what}: no examples")
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype("float32", copy=False)
    flat = x.reshape(len(x), -1)
    bad = ~(np.isfinite(flat) | (np.isnan(flat) & missing_ok)).all(axis=1)  # after the cast: 1e39 is inf
    if bad.any():
        raise KoptError(
            f"{what}: {int(bad.sum())} example(s) have NaN/inf values as float32 (first: {int(np.argmax(bad))})"
        )
    return x


def _labels(y, classes: list[str], what: str) -> np.ndarray:
    """Labels as class indices: integer indices, or the class names themselves (a regression
    model's, ``classes`` empty: its values; a multilabel model's: a 0/1 matrix, one column per label)."""
    y = np.asarray(y)
    if y.ndim == 0:
        raise KoptError(f"{what}: a 0-d array; give one label per example")
    if not classes or (y.ndim == 2 and y.shape[1] == len(classes) > 1):
        try:
            return y.reshape(len(y), -1)[:, 0].astype("float32") if not classes else y.astype("float32")
        except ValueError:
            raise KoptError(f"{what}: labels are not numbers") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if np.issubdtype(y.dtype, np.integer):
        idx = y.astype("int64")
    else:
        index = {name: i for i, name in enumerate(classes)}
        unknown = sorted({str(v) for v in y.tolist()} - set(index))
        if unknown:
            raise KoptError(f"{what}: label {unknown[0]!r} is not a class of the model; allowed: {', '.join(classes)}")
        idx = np.array([index[str(v)] for v in y.tolist()], "int64")
    if idx.ndim != 1 or (len(idx) and (idx.min() < 0 or idx.max() >= len(classes))):
        raise KoptError(f"{what}: labels must be class indices 0 .. {len(classes) - 1} or class names")
    return idx


def _from_arrays(path: Path, source: Source, shape) -> Inputs:
    what = f"INPUT {path}"
    if path.suffix.lower() == ".npy":  # (read_inputs takes X.NPY as an array too)
        try:
            x = load_npy(path)
        except BadFile as exc:
            raise KoptError(f"INPUT {exc}") from None
        return Inputs(fit_to_model(x, shape, what), [str(i) for i in range(len(np.atleast_1d(x)))], None, what)
    try:
        arrays = load_npz(path)
    except BadFile as exc:
        raise KoptError(f"{what}: not a readable .npz file ({str(exc).removeprefix(f'{path}: ')})") from None
    key = next((k for k in ("x", "x_test") if k in arrays), None)
    if key is None and len(arrays) == 1:
        key = next(iter(arrays))
    if key is None:
        raise KoptError(f"{what}: no array x or x_test; found {', '.join(sorted(arrays)) or 'none'}")
    x = fit_to_model(arrays[key], shape, f"{what}[{key}]")
    label = {"x": "y", "x_test": "y_test"}.get(key)
    y = _labels(arrays[label], source.class_names, f"{what}[{label}]") if label in arrays else None
    if "ids" in arrays and arrays["ids"].ndim != 1:
        raise KoptError(f"{what}[ids]: a {arrays['ids'].ndim}-d array; give one id per example")
    ids = [str(v) for v in arrays["ids"].tolist()] if "ids" in arrays else [str(i) for i in range(len(x))]
    for name, values in (("ids", ids), (label, y)):
        if values is not None and len(values) != len(x):
            raise KoptError(f"{what}: {len(values)} {name} for {len(x)} examples; they must match")
    return Inputs(x, ids, y, what)


def _training_columns(source: Source) -> tuple[list[str], str] | None:
    """The feature names the model was trained on, in its input order, and where they come from:
    the header of the training CSV (when that file is still there) or a bundled set's names."""
    node = source.run.config.get("dataset") or {}
    name = node.get("name")
    from kopt.data.bundled import TABULAR

    if name in TABULAR:  # scikit-learn's own names, e.g. "sepal length (cm)"
        import sklearn.datasets

        return [str(f) for f in getattr(sklearn.datasets, TABULAR[name])().feature_names], f"dataset={name}'s"
    path = Path(str(node.get("path") or ""))
    if name != "csv" or not path.is_file():
        return None
    with open(path, newline="") as fh:
        header = [h.strip() for h in next(csv.reader(fh, delimiter=str(node.get("delimiter", ","))), [])]
    return [h for h in header if h != str(node.get("label", "label"))], "the training CSV's"


def _short(name: str) -> str:
    """A column name without units, case or punctuation: "Sepal length (cm)" -> "sepal_length"."""
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"\([^)]*\)", "", name.lower())).strip("_")


def _match_columns(features: list[str], expected: list[str]) -> list[str] | None:
    """The input's column for each expected feature, by name (exactly, else without units, case and
    punctuation when that is unambiguous on both sides); None when the names do not match."""
    if sorted(features) == sorted(expected):
        return list(expected)
    short = {_short(f): f for f in features}
    wanted = [_short(e) for e in expected]
    if len(short) == len(features) == len(set(wanted)) and sorted(short) == sorted(wanted):
        return [short[w] for w in wanted]
    return None


def _from_csv(path: Path, source: Source, shape) -> Inputs:
    what = f"INPUT {path}"
    node = source.run.config.get("dataset") or {}
    label = str(node.get("label", "label")) if node.get("name") == "csv" else "label"
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter=str(node.get("delimiter", ","))) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise KoptError(f"{what}: needs a header line and at least one data row")
    header = [h.strip() for h in rows[0]]
    features = [h for h in header if h not in (label, "id")]
    columns = features
    known = _training_columns(source)
    if known is not None:  # matched by name, never by position
        expected, origin = known
        columns = _match_columns(features, expected)
        if columns is None:
            missing, extra = sorted(set(expected) - set(features)), sorted(set(features) - set(expected))
            raise KoptError(
                f"{what}: feature columns differ from {origin} ({', '.join(expected)}): "
                f"missing {', '.join(missing) or 'none'}, unknown {', '.join(extra) or 'none'}"
            )
    order = [header.index(c) for c in columns]
    if len(order) != int(np.prod(shape)) or len(shape) != 1:
        raise KoptError(
            f"{what}: {len(order)} feature columns ({', '.join(features)}); the model takes "
            f"{shape[0] if len(shape) == 1 else shape}"
        )
    x = np.empty((len(rows) - 1, len(order)), "float32")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise KoptError(f"{what}:{line}: {len(row)} fields but the header has {len(header)}")
        for j, col in enumerate(order):
            try:
                x[line - 2, j] = float(row[col])
            except ValueError:
                raise KoptError(f"{what}:{line}: column {header[col]!r} = {row[col]!r} is not a number") from None
    ids = [r[header.index("id")].strip() for r in rows[1:]] if "id" in header else [str(i) for i in range(len(x))]
    y = None
    if label in header:
        raw = [r[header.index(label)].strip() for r in rows[1:]]
        y = _labels(np.array(raw), source.class_names, f"{what}: column {label!r}")
    return Inputs(fit_to_model(x, shape, what), ids, y, what)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")  # kopt.data.files: what dataset=images reads


def _decode(files: list[Path], shape, what: str) -> np.ndarray:
    """Images as dataset=images reads them: decoded to the model's channels, resized bilinearly."""
    import tensorflow as tf

    height, width, channels = shape
    out = np.empty((len(files), *shape), "float32")
    for i, f in enumerate(files):
        try:  # a regular file of bounded size (a FIFO would block, a device never end), links followed
            data = read_bytes(f, limit=MAX_IMAGE_BYTES)
        except BadFile as exc:
            raise KoptError(f"INPUT {exc}") from None
        except FileNotFoundError:
            raise KoptError(f"{what}: {f}: no such file") from None
        try:
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        except (tf.errors.OpError, ValueError) as exc:
            raise KoptError(f"{what}: {f} is not a readable image ({type(exc).__name__})") from None
        out[i] = tf.image.resize(image, (height, width)).numpy()
    return out


def _from_images(paths: list[Path], source: Source, shape) -> Inputs:
    what = f"INPUT {paths[0]}" if len(paths) == 1 else f"INPUT ({len(paths)} images)"
    if len(shape) != 3:
        raise KoptError(f"{what}: images, but the model takes {shape[0]} tabular features")
    y = None
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if classes:  # class sub-folders: labelled images
            files = [f for c in classes for f in sorted((folder / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
            y = _labels(np.array([f.parent.name for f in files]), source.class_names, f"{what}: class folder")
            ids = [str(f.relative_to(folder)) for f in files]
        else:
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            ids = [f.name for f in files]
        if not files:
            raise KoptError(f"{what}: no images ({', '.join(IMAGE_SUFFIXES)})")
    else:
        files, ids = paths, [p.name for p in paths]
    return Inputs(fit_to_model(_decode(files, shape, what), shape, what), ids, y, what)


def _from_dataset(name: str, source: Source, shape) -> Inputs:
    """The test split of ``dataset=NAME``: the run's own test set when it trained on that dataset."""
    from omegaconf import OmegaConf

    from kopt.data.datasets import load_dataset
    from kopt.paths import config_dir, config_groups

    run, seed = source.run, int(source.run.summary.seed or 0)
    node = run.config.get("dataset") or {}
    what = f"INPUT dataset={name}"
    missing_ok = False
    if node.get("name") == name:
        test = run.splits["test"]
        data = load_dataset(OmegaConf.create(node), seed)
        missing_ok = bool((data.encoding or {}).get("impute"))  # a table's missing numbers: the model fills them
    else:
        if name not in config_groups().get("dataset", []):
            raise KoptError(f"{what}: unknown dataset; allowed: {', '.join(config_groups().get('dataset', []))}")
        from kopt.data.splits import test_split

        data = load_dataset(OmegaConf.load(config_dir() / "dataset" / f"{name}.yaml"), seed)
        test_size = float((run.config.get("split") or {}).get("test_size") or 0.2)
        test = data.test_idx if data.test_idx is not None else test_split(data.y, test_size, seed)[1]
    x = fit_to_model(data.x[test], shape, what, missing_ok)
    if list(data.class_names) != source.class_names:
        raise KoptError(
            f"{what}: its classes ({', '.join(data.class_names[:10])}) are not the model's "
            f"({', '.join(source.class_names[:10])})"
        )
    return Inputs(x, [str(int(i)) for i in test], data.y[test], what)


def check_exist(items: list[str]) -> None:
    """Before TensorFlow loads: every INPUT file or folder is there."""
    for item in items:
        if not item.startswith("dataset=") and not Path(item).exists():
            raise KoptError(f"INPUT {item}: no such file or folder")


def read_inputs(items: list[str], source: Source, shape: tuple[int, ...]) -> Inputs:
    """The examples of INPUT (one or more command-line items) for a model taking ``shape``."""
    if len(items) == 1 and items[0].startswith("dataset="):
        return _from_dataset(items[0].split("=", 1)[1], source, shape)
    check_exist(items)
    paths = [Path(i) for i in items]
    for p in paths:  # a FIFO, a device or a socket is named as one (never opened to block)
        if not p.is_dir():
            try:
                open_regular(p, limit=None).close()
            except BadFile as exc:
                raise KoptError(f"INPUT {exc}") from None
            except FileNotFoundError:
                raise KoptError(f"INPUT {p}: no such file or folder") from None
    suffixes = {p.suffix.lower() for p in paths}
    if len(paths) == 1 and suffixes <= {".npz", ".npy"} and paths[0].is_file():
        return _from_arrays(paths[0], source, shape)
    if len(paths) == 1 and suffixes <= TABLE_SUFFIXES and paths[0].is_file():
        encoding = run_encoding(source.run.path)  # a model trained on a table: its saved encoding
        if encoding is not None:
            x, ids, labels = read_rows(paths[0], encoding)
            what = f"INPUT {paths[0]}"
            y = (
                None
                if labels is None
                else _labels(np.array(labels), source.class_names, f"{what}: column {encoding['label']!r}")
            )
            return Inputs(fit_to_model(x, shape, what, bool(encoding.get("impute"))), ids, y, what)
    if len(paths) == 1 and suffixes == {".csv"} and paths[0].is_file():
        return _from_csv(paths[0], source, shape)
    if (len(paths) == 1 and paths[0].is_dir()) or suffixes <= set(IMAGE_SUFFIXES):
        return _from_images(paths, source, shape)
    raise KoptError(
        f"INPUT {items[0]}: unknown kind; allowed: .npz, .npy, .csv, an image folder, image files "
        f"({', '.join(IMAGE_SUFFIXES)}), dataset=NAME"
    )
