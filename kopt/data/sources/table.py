"""``dataset=table`` (and ``dataset=csv``, the same option with ``delimiter: ","``): a CSV, TSV or
Parquet table read with pandas (:mod:`kopt.data.table`), one label column, numeric and text
features (text one-hot encoded), optional group and time columns for ``split=group_kfold`` and
``split=time``, and missing numbers refused or imputed (``impute``).

This module with ``configs/dataset/table.yaml`` and ``configs/dataset/csv.yaml`` is the whole
option: the schema (types and ranges) with its facts, and the loader. No pandas at module level.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from kopt.data.base import Data, check_data, loader, with_fixed_test
from kopt.errors import KoptError
from kopt.schemas import param, schema
from kopt.schemas.dataset import check_file
from kopt.schemas.metrics import TASKS


@schema("dataset", "table", "csv", kind="tabular")
@dataclass
class TableConfig:
    """A table with a header line: one label column; the features are every other column but
    ``groups``, ``order`` and ``drop`` (or exactly ``features``)."""

    name: str
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    path: str | None
    label: str
    features: list[str] | None
    drop: list[str]
    groups: str | None
    order: str | None
    impute: str | None = param(choices=["mean", "median"])
    delimiter: str | None
    test_path: str | None
    limit: int | None = param(ge=10)

    def check(self, prefix: str) -> None:
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise KoptError(f"{prefix}.delimiter={self.delimiter!r}: allowed: one character, or null (by suffix)")

    def check_machine(self, prefix: str) -> None:
        check_file(prefix, "path", self.path)
        check_file(prefix, "test_path", self.test_path, required=False)


def _column(frame, name: str, key: str, path: Path):
    """A groups or order column's values (one per row), or one line naming the key."""
    import numpy as np

    absent = frame[name].isna().to_numpy()
    if absent.any():
        raise KoptError(
            f"{key}={name}: {path} has {int(absent.sum())} empty value(s) in that column; every row needs one"
        )
    values = frame[name].to_numpy()
    return values if values.dtype != object else np.array([str(v).strip() for v in values])


def _labels(table, label: str, key: str, path: Path) -> list[str]:
    from kopt.data.table import label_strings

    if label not in table.columns:
        raise KoptError(f"dataset.label={label!r} is not a column of {key}={path}; columns: {', '.join(table.columns)}")
    empty = table[label].isna().to_numpy()
    if empty.any():
        raise KoptError(
            f"{path}:{int(empty.argmax()) + 2}: the label column {label!r} is empty; every row needs a class"
        )
    return label_strings(table[label])


def _targets(raw: list[str], raw_test: list[str], cfg):
    """The label column: classes (kopt.data.table.encode_labels), or values where dataset.task is
    regression, or auto and the column holds numbers that are not all integers."""
    import numpy as np

    from kopt.data.table import encode_labels

    where = f"dataset.label={cfg.label!r}"
    numbers = None
    try:
        numbers = [float(v) for v in raw], [float(v) for v in raw_test]
    except ValueError as exc:
        if cfg.task == "regression":
            raise KoptError(f"{where}: {exc}; dataset.task=regression takes a column of numbers") from None
    fractional = numbers is not None and any(v != round(v) for v in numbers[0])
    if cfg.task == "regression" or (cfg.task == "auto" and fractional):
        return np.array(numbers[0], "float32"), np.array(numbers[1], "float32"), []
    return encode_labels(raw, raw_test, where)


def precheck(cfg) -> Data:
    """Read the table(s) once with pandas (no TensorFlow) and check what the loader returns; returns
    it, so that each job's split is tried on its labels before any run dir (kopt.data.labels)."""
    return check_data(load_table(cfg), f"dataset={cfg.name}", cfg.task)


@loader("table", "csv", precheck=precheck)
def load_table(cfg) -> Data:
    import numpy as np

    from kopt.data.files import existing
    from kopt.data.table import encode, plan_encoding, read_table

    path = existing(cfg.path, "dataset.path")
    frame = read_table(path, "dataset.path", cfg.delimiter)
    raw = _labels(frame, cfg.label, "dataset.path", path)
    if not cfg.test_path:
        y, _, classes = _targets(raw, [], cfg)
        encoding = plan_encoding(frame, cfg, path, classes)
        x = encode(frame, encoding, path, f"dataset.path={path}")
        extra = {
            k: _column(frame, getattr(cfg, k), f"dataset.{k}", path) for k in ("groups", "order") if getattr(cfg, k)
        }
        return Data(x, y, cfg.name, "tabular", classes, encoding=encoding, **extra)
    test_path = existing(cfg.test_path, "dataset.test_path")
    test = read_table(test_path, "dataset.test_path", cfg.delimiter)
    raw_test = _labels(test, cfg.label, "dataset.test_path", test_path)
    y, y_test, classes = _targets(raw, raw_test, cfg)
    encoding = plan_encoding(frame, cfg, path, classes)
    x = encode(frame, encoding, path, f"dataset.path={path}")
    x_test = encode(test, encoding, test_path, f"dataset.test_path={test_path}")
    data = with_fixed_test(x, y, x_test, y_test, name=cfg.name, kind="tabular", class_names=classes)
    extra = {}
    if cfg.groups:  # the split reads the pool's groups only: the test rows repeat the first group
        groups = _column(frame, cfg.groups, "dataset.groups", path)
        if cfg.groups in test.columns:  # a group on both sides is refused
            shared = sorted(set(groups.tolist()) & set(_column(test, cfg.groups, "dataset.groups", test_path).tolist()))
            if shared:
                raise KoptError(
                    f"dataset.groups={cfg.groups}: group {shared[0]!r} has rows in dataset.path and in "
                    f"dataset.test_path ({len(shared)} groups do); each group must be on one side"
                )
        extra["groups"] = np.concatenate([groups, np.repeat(groups[:1], len(x_test))])
    if cfg.order:  # split=time checks that the test rows come after the training rows
        if cfg.order not in test.columns:
            raise KoptError(f"dataset.order={cfg.order}: not a column of dataset.test_path={test_path}")
        order = [_column(t, cfg.order, "dataset.order", p) for t, p in ((frame, path), (test, test_path))]
        extra["order"] = np.concatenate(order)
    return replace(data, encoding=encoding, **extra)
