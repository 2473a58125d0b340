"""``augment=noise``: additive Gaussian noise."""

from dataclasses import dataclass

from kopt.data.augments import recipe
from kopt.schemas import param, schema


@schema("augment", "noise", needs="any")
@dataclass
class NoiseAugmentConfig:
    """Additive Gaussian noise (keras GaussianNoise) in normalised units."""

    name: str
    stddev: float = param(gt=0, le=1)


@recipe("noise")
def noise(cfg, data) -> list:
    import keras

    return [keras.layers.GaussianNoise(cfg.stddev)]
