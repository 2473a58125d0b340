from dataclasses import dataclass

from kopt.schemas import schema


@schema("augment", "none")
@dataclass
class NoAugmentConfig:
    name: str = "none"
