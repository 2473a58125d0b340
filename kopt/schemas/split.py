from dataclasses import dataclass

from kopt.errors import KoptError
from kopt.schemas import param, schema


@schema("split", "holdout")
@dataclass
class HoldoutConfig:
    name: str
    test_size: float = param(gt=0, lt=1)
    val_size: float = param(gt=0, lt=1)
    stratify: bool


@schema("split", "kfold")
@dataclass
class KFoldConfig:
    name: str
    test_size: float = param(gt=0, lt=1)
    k: int = param(ge=2)
    stratify: bool
    shuffle: bool


@schema("split", "repeated_kfold")
@dataclass
class RepeatedKFoldConfig:
    name: str
    test_size: float = param(gt=0, lt=1)
    k: int = param(ge=2)
    repeats: int = param(ge=1)
    stratify: bool


@schema("split", "cv5x2")
@dataclass
class CV5x2Config:
    """Dietterich's 5x2cv: 5 repetitions of a (stratified) 2-fold split."""

    name: str
    test_size: float = param(gt=0, lt=1)
    stratify: bool


@schema("split", "group_kfold")
@dataclass
class GroupKFoldConfig:
    """k folds and a test set that keep each group (``dataset.groups``) on one side."""

    name: str
    test_size: float = param(gt=0, lt=1)
    k: int = param(ge=2)
    stratify: bool


@schema("split", "time")
@dataclass
class TimeConfig:
    """Time-ordered folds (by ``dataset.order``, else the row order); the test set is the last rows."""

    name: str
    test_size: float = param(gt=0, lt=1)
    k: int = param(ge=2)
    gap: int = param(ge=0)


def check_split_fits_dataset(cfg) -> None:
    """A group split needs ``dataset.groups``; groups and an order are used by their split only
    (a column named there is no feature either way: ``dataset.drop`` leaves a column out alone)."""
    split, node = cfg.get("split") or {}, cfg.get("dataset") or {}
    name, groups, order = split.get("name"), node.get("groups"), node.get("order")
    if name == "group_kfold" and not groups:
        where = "" if "groups" in node else f" (dataset={node.get('name')} has none: use dataset=table, csv or npz)"
        raise KoptError(f"split=group_kfold needs groups; set dataset.groups=<column>{where}")
    if groups and name != "group_kfold":
        raise KoptError(
            f"dataset.groups={groups}: only split=group_kfold keeps groups apart; set split=group_kfold, "
            "or dataset.drop to only leave the column out"
        )
    if order and name != "time":
        raise KoptError(
            f"dataset.order={order}: only split=time uses an order; set split=time, "
            "or dataset.drop to only leave the column out"
        )
