from dataclasses import dataclass

from kopt.schemas import param, schema


@schema("regularizer", "none", "l1", "l2", "l1l2")
@dataclass
class RegularizerConfig:
    name: str
    l1: float = param(ge=0)
    l2: float = param(ge=0)
    dropout: float = param(ge=0, lt=1)
    batchnorm: bool
    bn_momentum: float = param(gt=0, lt=1)
