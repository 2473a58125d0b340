from dataclasses import dataclass

from kopt.schemas import param, schema


@schema("regularizer", "none", "l1", "l2", "l1l2")
@dataclass
class RegularizerConfig:
    name: str = "none"
    l1: float = param(0.0, ge=0)
    l2: float = param(0.0, ge=0)
    dropout: float = param(0.0, ge=0, lt=1)
    batchnorm: bool = True
