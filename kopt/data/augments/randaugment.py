"""``augment=randaugment``: keras.layers.RandAugment."""

from dataclasses import dataclass

from kopt.data.augments import recipe
from kopt.schemas import param, schema


@schema("augment", "randaugment", needs="image")
@dataclass
class RandAugmentConfig:
    name: str
    num_ops: int = param(ge=1, le=11)
    magnitude: float = param(gt=0, le=1)


@recipe("randaugment")
def randaugment(cfg, data) -> list:
    import keras

    return [keras.layers.RandAugment(value_range=(0.0, 1.0), num_ops=cfg.num_ops, factor=cfg.magnitude)]
