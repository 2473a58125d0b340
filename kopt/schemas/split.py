from dataclasses import dataclass

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
