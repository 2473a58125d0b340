"""``augment=standard``: the CIFAR recipe (pad, random crop, horizontal flip)."""

from dataclasses import dataclass

from kopt.data.augments import recipe
from kopt.schemas import param, schema


@schema("augment", "standard", needs="image")
@dataclass
class StandardAugmentConfig:
    """The CIFAR recipe: zero-pad by ``pad`` pixels, random crop back, random horizontal flip.

    ``flip: null`` flips unless the dataset holds digits or characters (digits, mnist)."""

    name: str
    pad: int = param(ge=0)
    flip: bool | None


def flip_allowed(cfg, data) -> bool:
    from kopt.schemas.dataset import can_flip

    return can_flip(data.name) if cfg.flip is None else bool(cfg.flip)


@recipe("standard")
def standard(cfg, data) -> list:
    """He et al. 2015: pad ``pad`` pixels with zeros (the mean, after normalisation), take a uniform
    random crop back to the input size, per image, then flip horizontally (where flips are allowed)."""
    import keras

    from kopt.data.augment import PadCrop

    layers = [PadCrop(cfg.pad)] if cfg.pad else []
    if flip_allowed(cfg, data):
        layers.append(keras.layers.RandomFlip("horizontal"))
    return layers
