"""``augment=mixup``: keras.layers.MixUp (labels mix: training uses one-hot targets)."""

from dataclasses import dataclass

from kopt.data.augments import recipe
from kopt.schemas import param, schema


@schema("augment", "mixup", needs="any")
@dataclass
class MixUpConfig:
    name: str
    alpha: float = param(gt=0)


@recipe("mixup")
def mixup(cfg, data) -> list:
    import keras

    return [keras.layers.MixUp(alpha=cfg.alpha)]
