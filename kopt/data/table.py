"""Tables (CSV, TSV, Parquet) read with pandas, and their encoding as model inputs.

:func:`read_table` reads a file by its suffix (``.parquet`` with pyarrow, ``.tsv`` tab-separated,
``.csv`` or any other with ``delimiter``). :func:`plan_encoding` decides, from the training file,
which columns are features (every column but the label, ``groups``, ``order`` and ``drop``, or
exactly ``features``) and how each becomes inputs: a number as itself, a text column one-hot
(one input per category seen in the training file; a category never seen gives all zeros, as
scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``). :func:`encode` applies it to any
table with those columns, the training file's or a new one. The encoding is plain JSON
(``table.json`` in the run dir), so ``kopt predict`` or any other program can apply it.

Missing numbers (``dataset.impute=mean|median``) stay NaN in the encoded rows. As scikit-learn's
``Pipeline(SimpleImputer, model)`` in ``cross_val_score``, each fold fits its own fill values on
its training rows only (:func:`fold_fills`, recorded in ``table.json``'s ``fill``, one mapping per
fold) and fills its training, validation and test rows with them (:func:`filled`); its saved model
holds them as its first step (``kopt.training.evaluate.inference_copy``), so a model fills the
missing numbers of new rows with exactly the values it was trained with.

pandas is imported inside the functions: validation reads this module's callers without it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from kopt.data.base import Data
from kopt.errors import KoptError

ENCODING = "table.json"  # the encoding, saved in the run dir
FORMAT = "kopt-table/1"
SUFFIXES = (".csv", ".tsv", ".parquet")


def read_table(path: Path, key: str, delimiter: str | None = None):
    """The file as a pandas DataFrame (column names stripped), or one line saying why not."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            sep = delimiter or {".csv": ",", ".tsv": "\t"}.get(suffix)
            if sep is None:
                raise KoptError(
                    f"{key}={path}: unknown table kind {suffix or '(no suffix)'}; allowed: "
                    f"{', '.join(SUFFIXES)}, or set dataset.delimiter"
                )
            frame = pd.read_csv(path, sep=sep, skipinitialspace=True, skip_blank_lines=True)
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            header, line, saw = found.groups()
            raise KoptError(f"{path}:{line}: {saw} fields but the header has {header}") from None
        raise KoptError(f"{key}={path}: not a readable table ({str(exc).splitlines()[0]})") from None
    except pd.errors.EmptyDataError:
        raise KoptError(f"{path}: needs a header line and at least one data row") from None
    except ImportError as exc:
        raise KoptError(f"{key}={path}: reading Parquet needs pyarrow ({exc}); pip install pyarrow") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise KoptError(f"{key}={path}: not a readable table ({type(exc).__name__}: {str(exc)[:200]})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise KoptError(f"{path}: needs a header line and at least one data row")
    return frame


def label_strings(column) -> list[str]:
    """A label (or group) column as text: integral numbers without their '.0'."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return [str(int(v)) if float(v).is_integer() else str(v) for v in column.tolist()]
    return [str(v).strip() for v in column.tolist()]


def _row(frame, i: int, path: Path) -> str:
    return f"line {i + 2}" if path.suffix.lower() not in (".parquet", ".pq") else f"row {i}"


def _kind(frame, name: str, path: Path) -> str:
    """ "number" or "category"; a text column that is mostly numbers is a typo, not a category."""
    import pandas as pd

    dtype = frame[name].dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype) or dtype == "category"):
        raise KoptError(
            f"{path}: column {name!r} has type {dtype}; features must be numbers or text "
            "(name it in dataset.order or dataset.drop)"
        )
    values = frame[name].dropna()
    numbers = pd.to_numeric(values.astype(str), errors="coerce")
    if numbers.notna().any() and numbers.isna().any():
        i = int(numbers.isna().to_numpy().argmax())
        raise KoptError(
            f"{path}:{_row(frame, values.index[i], path).removeprefix('line ')}: column {name!r} = "
            f"{values.iloc[i]!r} is not a number; features must be numeric, or all text (a category)"
        )
    return "category"


def check_columns(frame, cfg, path: Path) -> list[str]:
    """The feature columns of the training table (see the module doc), checked by name."""
    columns = list(frame.columns)
    label = cfg.label
    if label not in columns:
        raise KoptError(f"dataset.label={label!r} is not a column of {path}; columns: {', '.join(columns)}")
    roles = {"dataset.label": [label]}
    for key in ("groups", "order"):
        if getattr(cfg, key, None):
            roles[f"dataset.{key}"] = [getattr(cfg, key, None)]
    if getattr(cfg, "features", None) and getattr(cfg, "drop", None):
        raise KoptError("dataset.features and dataset.drop: give one (features names the inputs, drop leaves some out)")
    for key in ("features", "drop"):
        if getattr(cfg, key, None):
            roles[f"dataset.{key}"] = [str(c) for c in getattr(cfg, key, None)]
    for key, names in roles.items():
        unknown = [c for c in names if c not in columns]
        if unknown:
            raise KoptError(f"{key}: {unknown[0]!r} is not a column of {path}; columns: {', '.join(columns)}")
    taken = {c for key, names in roles.items() if key not in ("dataset.features", "dataset.drop") for c in names}
    if getattr(cfg, "features", None):
        clash = [c for c in roles["dataset.features"] if c in taken]
        if clash:
            raise KoptError(
                f"dataset.features: {clash[0]!r} is the label, groups or order column; it cannot be a feature"
            )
        features = roles["dataset.features"]
    else:
        features = [c for c in columns if c not in taken and c not in roles.get("dataset.drop", [])]
    if not features:
        raise KoptError(f"{path}: has no feature columns besides the label {label!r}")
    return features


def plan_encoding(frame, cfg, path: Path, classes: list[str]) -> dict:
    """How the training table's feature columns become inputs (the JSON saved as ``table.json``)."""
    columns, inputs = [], []
    for name in check_columns(frame, cfg, path):
        kind = _kind(frame, name, path)
        if kind == "number":
            columns.append({"name": name, "type": "number"})
            inputs.append(name)
        else:
            categories = sorted({str(v).strip() for v in frame[name].dropna().tolist()})
            if len(categories) == len(frame) >= 20 and not getattr(cfg, "features", None):
                raise KoptError(
                    f"{path}: column {name!r} has a different text in every row (an id?); leave it out with "
                    f"dataset.drop=[{name}], or name the inputs in dataset.features"
                )
            columns.append({"name": name, "type": "category", "categories": categories})
            inputs.extend(f"{name}={c}" for c in categories)
    return {
        "format": FORMAT,
        "label": cfg.label,
        "classes": list(classes),
        "impute": getattr(cfg, "impute", None),
        "delimiter": getattr(cfg, "delimiter", None),
        "columns": columns,
        "inputs": inputs,
        "fill": [],  # per fold: input name -> the value its missing numbers take (fold_fills)
    }


def encode(frame, encoding: dict, path: Path, what: str) -> np.ndarray:
    """The table's rows as float32 inputs, in the encoding's order. A missing number is NaN where
    the encoding imputes (each fold's model fills it: :func:`fold_fills`), else one line naming the
    column; a missing or unseen category gives all zeros where the encoding imputes."""
    import pandas as pd

    missing = [c["name"] for c in encoding["columns"] if c["name"] not in frame.columns]
    if missing:
        trained = ", ".join(c["name"] for c in encoding["columns"])
        raise KoptError(
            f"{what}: feature columns differ from the training table's ({trained}): missing {', '.join(missing)}"
        )
    impute = encoding.get("impute")
    parts = []
    for col in encoding["columns"]:
        name, values = col["name"], frame[col["name"]]
        absent = values.isna().to_numpy()
        if absent.any() and not impute:
            raise KoptError(
                f"{what}: column {name!r} has {int(absent.sum())} missing value(s) (NaN/inf; first: "
                f"{_row(frame, int(absent.argmax()), path)}); fill them, leave the column out (dataset.drop) "
                "or set dataset.impute=mean|median"
            )
        if col["type"] == "number":
            try:
                number = pd.to_numeric(values, errors="raise").to_numpy(dtype="float64")
            except (ValueError, TypeError):
                bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
                i = int(bad.to_numpy().argmax())
                raise KoptError(
                    f"{what}: column {name!r} = {values.iloc[i]!r} ({_row(frame, i, path)}) is not a number"
                ) from None
            parts.append(number[:, None])
        else:
            text = np.array([None if a else str(v).strip() for v, a in zip(values.tolist(), absent)], dtype=object)
            parts.append(np.stack([text == c for c in col["categories"]], axis=1).astype("float64"))
    return np.concatenate(parts, axis=1).astype("float32")


def encode_labels(train: list[str], test: list[str], where: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Label strings -> 0..C-1 (numeric labels sorted as numbers, others as text)."""
    values = sorted(set(train))
    try:
        numbers = {v: float(v) for v in values}
    except ValueError:
        numbers = None
    if numbers is not None:
        bad = [v for v, n in numbers.items() if n != round(n)]
        if bad:
            raise KoptError(f"{where}: label {bad[0]!r} is not an integer class; labels must be classes")
        values = sorted(values, key=numbers.get)
    index = {v: i for i, v in enumerate(values)}
    unknown = sorted(set(test) - set(index))
    if unknown:
        raise KoptError(
            f"{where}: test label {unknown[0]!r} does not occur in the training data; allowed: {', '.join(values)}"
        )
    names = [str(int(float(v))) if numbers is not None else v for v in values]
    return np.array([index[v] for v in train], "int64"), np.array([index[v] for v in test], "int64"), names


def fold_fills(data: Data, folds) -> Data:
    """Each fold's fill values, fitted on that fold's training rows only (``folds``: the split's
    (train, validation) index pairs), as ``encoding['fill'][fold]``: input name -> the mean or median
    of the column's known values there, for every number input (a new row may miss any of them).
    The validation and test rows never inform them. Data that does not impute passes unchanged."""
    encoding = data.encoding
    if not encoding or not encoding.get("impute"):
        return data
    stat = np.nanmedian if encoding["impute"] == "median" else np.nanmean
    numbers = [j for j, name in enumerate(encoding["inputs"]) if name in _number_names(encoding)]
    fills = []
    for fold, (train_idx, _) in enumerate(folds):
        x, fill = data.x[np.asarray(train_idx)], {}
        for j in numbers:
            name = encoding["inputs"][j]
            known = x[:, j][~np.isnan(x[:, j])]
            if len(known) == 0:
                where = f"fold {fold}'s training rows" if len(folds) > 1 else "the training rows"
                raise KoptError(
                    f"dataset.impute={encoding['impute']}: column {name!r} has no value in {where}; "
                    f"leave it out (dataset.drop=[{name}])"
                )
            fill[name] = float(stat(known.astype("float64")))
        fills.append(fill)
    return replace(data, encoding={**encoding, "fill": fills})


def _number_names(encoding: dict) -> set[str]:
    return {c["name"] for c in encoding["columns"] if c["type"] == "number"}


def fill_vector(encoding: dict | None, fold: int) -> np.ndarray | None:
    """Fold ``fold``'s fill values in input order (float32; 0 for a category's inputs, which are
    never missing), or None where the encoding does not impute (:func:`fold_fills` has run)."""
    if not encoding or not encoding.get("impute"):
        return None
    fill = encoding["fill"][fold]
    return np.array([fill.get(name, 0.0) for name in encoding["inputs"]], "float32")


def filled(x: np.ndarray, vector: np.ndarray | None) -> np.ndarray:
    """``x`` with its missing numbers (NaN) replaced by ``vector``'s value of their input."""
    if vector is None:
        return x
    return np.where(np.isnan(x), vector, x).astype("float32")
