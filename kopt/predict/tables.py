"""INPUT of ``kopt predict`` for a model trained on a table (``dataset=table`` or ``csv``): a new
CSV, TSV or Parquet file, encoded with the run's saved ``table.json`` (the same columns, the same
one-hot categories), matched by column name; other columns are ignored, except an ``id`` column
(the rows' ids) and the label column (their labels, when present). Where the run imputed
(``dataset.impute``), a missing number stays NaN here: each saved model fills it with the values of
the rows it was trained on (``kopt.data.table.fold_fills``), a k-fold run's models each their own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kopt.errors import KoptError
from kopt.runfiles import BadFile, read_json_object

TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq"}


def run_encoding(run_path: Path) -> dict | None:
    """The run's table encoding, or None for a run not trained on a table (or by an older kopt)."""
    from kopt.data.table import ENCODING, FORMAT

    path = run_path / ENCODING
    if not path.is_file():
        return None
    try:
        encoding = read_json_object(path, root=run_path)
    except BadFile as exc:
        raise KoptError(str(exc)) from None
    if encoding.get("format") != FORMAT:
        raise KoptError(f"{path}: format {encoding.get('format')!r}; this kopt reads {FORMAT}")
    return encoding


def read_rows(path: Path, encoding: dict) -> tuple[np.ndarray, list[str], list[str] | None]:
    """(inputs, ids, label strings or None) of a new table, encoded as the model's training rows."""
    from kopt.data.table import encode, label_strings, read_table

    what = f"INPUT {path}"
    frame = read_table(path, "INPUT", encoding.get("delimiter"))
    x = encode(frame, encoding, path, what)
    ids = label_strings(frame["id"]) if "id" in frame.columns else [str(i) for i in range(len(x))]
    label = encoding["label"]
    labels = None
    if label in frame.columns:
        if frame[label].isna().any():
            raise KoptError(f"{what}: the label column {label!r} has empty values; fill or remove it")
        labels = label_strings(frame[label])
    return x, ids, labels
