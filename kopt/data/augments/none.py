"""``augment=none``: no augmentation."""

from dataclasses import dataclass

from kopt.data.augments import recipe
from kopt.schemas import schema


@schema("augment", "none", needs="any")
@dataclass
class NoAugmentConfig:
    name: str


@recipe("none")
def none(cfg, data) -> list:
    return []
