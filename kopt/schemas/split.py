from dataclasses import dataclass

from kopt.schemas import param, schema


@schema("split", "holdout")
@dataclass
class HoldoutConfig:
    name: str = "holdout"
    test_size: float = param(0.2, gt=0, lt=1)
    val_size: float = param(0.2, gt=0, lt=1)
    stratify: bool = True


@schema("split", "kfold")
@dataclass
class KFoldConfig:
    name: str = "kfold"
    test_size: float = param(0.2, gt=0, lt=1)
    k: int = param(5, ge=2)
    stratify: bool = True
    shuffle: bool = True


@schema("split", "repeated_kfold")
@dataclass
class RepeatedKFoldConfig:
    name: str = "repeated_kfold"
    test_size: float = param(0.2, gt=0, lt=1)
    k: int = param(5, ge=2)
    repeats: int = param(2, ge=1)
    stratify: bool = True


@schema("split", "cv5x2")
@dataclass
class CV5x2Config:
    """Dietterich's 5x2cv: 5 repetitions of a (stratified) 2-fold split."""

    name: str = "cv5x2"
    test_size: float = param(0.2, gt=0, lt=1)
    stratify: bool = True
