from dataclasses import dataclass

from kopt.schemas import param, schema


@schema("augment", "none")
@dataclass
class NoAugmentConfig:
    name: str = "none"


@schema("augment", "standard")
@dataclass
class StandardAugmentConfig:
    """The CIFAR recipe: zero-pad by ``pad`` pixels, random crop back, random horizontal flip."""

    name: str = "standard"
    pad: int = param(4, ge=0)
    flip: bool = True
