"""``augment=light``: small random translation, rotation and zoom."""

from dataclasses import dataclass

from kopt.data.augments import recipe
from kopt.schemas import param, schema


@schema("augment", "light", needs="image")
@dataclass
class LightAugmentConfig:
    """Small random translation, rotation and zoom (fractions of the image size / of a full turn)."""

    name: str
    translate: float = param(ge=0, lt=1)
    rotate: float = param(ge=0, lt=0.5)
    zoom: float = param(ge=0, lt=1)
    fill_mode: str = param(choices=["constant", "nearest", "reflect", "wrap"])


@recipe("light")
def light(cfg, data) -> list:
    import keras

    t, r, z, fill = cfg.translate, cfg.rotate, cfg.zoom, cfg.fill_mode
    layers = []
    if t:
        layers.append(keras.layers.RandomTranslation(t, t, fill_mode=fill))
    if r:
        layers.append(keras.layers.RandomRotation(r, fill_mode=fill))
    if z:
        layers.append(keras.layers.RandomZoom((-z, z), fill_mode=fill))
    return layers
