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
