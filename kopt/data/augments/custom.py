"""``augment=custom``: a list of Keras preprocessing layers by name, with the arguments kopt lets them take."""

from dataclasses import dataclass
from typing import Any

from kopt.data.augments import recipe
from kopt.errors import KoptError
from kopt.schemas import schema

# Keras layers a `custom` augmentation may use -> (arguments a user may set, what data it needs).
# "image": 4-D images; "rgb": images with 3 channels; "any": images or tabular features.
# seed, value_range and data_format are kopt's to set: seeds come from the pipeline, and
# range-dependent layers see each batch rescaled to value_range (0, 1).
CUSTOM_LAYERS: dict[str, tuple[tuple[str, ...], str]] = {
    "RandomFlip": (("mode",), "image"),
    "RandomTranslation": (("height_factor", "width_factor", "fill_mode", "interpolation", "fill_value"), "image"),
    "RandomRotation": (("factor", "fill_mode", "interpolation", "fill_value"), "image"),
    "RandomZoom": (("height_factor", "width_factor", "fill_mode", "interpolation", "fill_value"), "image"),
    "RandomShear": (("x_factor", "y_factor", "interpolation", "fill_mode", "fill_value"), "image"),
    "RandomPerspective": (("factor", "scale", "interpolation", "fill_value"), "image"),
    "RandomContrast": (("factor",), "image"),
    "RandomBrightness": (("factor",), "image"),
    "RandomSharpness": (("factor",), "image"),
    "RandomGaussianBlur": (("factor", "kernel_size", "sigma"), "image"),
    "RandomPosterization": (("factor",), "image"),
    "Solarization": (("addition_factor", "threshold_factor"), "image"),
    "RandomErasing": (("factor", "scale", "fill_value"), "image"),
    "RandomColorJitter": (("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor"), "rgb"),
    "RandomHue": (("factor",), "rgb"),
    "RandomSaturation": (("factor",), "rgb"),
    "RandomGrayscale": (("factor",), "rgb"),
    "RandAugment": (("num_ops", "factor", "interpolation"), "image"),
    "GaussianNoise": (("stddev",), "any"),
    "GaussianDropout": (("rate",), "any"),
    "MixUp": (("alpha",), "any"),
    "CutMix": (("factor",), "image"),
}


def _custom_needs(cfg) -> str:
    kinds = {CUSTOM_LAYERS.get(spec.get("layer"), ((), "any"))[1] for spec in cfg.layers or []}
    return "rgb" if "rgb" in kinds else "image" if "image" in kinds else "any"


@schema("augment", "custom", needs=_custom_needs)
@dataclass
class CustomAugmentConfig:
    """A list of ``{layer: <name>, <argument>: <value>, ...}`` applied in order."""

    name: str
    layers: list[dict[str, Any]]

    def check(self, prefix: str) -> None:
        if not self.layers:
            raise KoptError(f"{prefix}.layers is empty; list at least one layer, e.g. [{{layer: RandomFlip}}]")
        for i, spec in enumerate(self.layers):
            key = f"{prefix}.layers[{i}]"
            layer = spec.get("layer")
            if layer not in CUSTOM_LAYERS:
                raise KoptError(f"{key}.layer={layer!r} is not allowed; allowed: {', '.join(sorted(CUSTOM_LAYERS))}")
            allowed = CUSTOM_LAYERS[layer][0]
            for arg in spec:
                if arg != "layer" and arg not in allowed:
                    raise KoptError(
                        f"{key}.{arg}: not an argument kopt lets {layer} take; allowed: {', '.join(allowed)}"
                    )


@recipe("custom")
def custom(cfg, data) -> list:
    import keras

    layers = []
    for i, spec in enumerate(cfg.layers):
        spec = dict(spec)
        name = spec.pop("layer")
        kwargs = {"value_range": (0.0, 1.0)} if "value_range" in _init_args(name) else {}
        try:
            layers.append(getattr(keras.layers, name)(**spec, **kwargs))
        except (ValueError, TypeError) as exc:
            raise KoptError(f"augment.layers[{i}] ({name}): {str(exc).splitlines()[0]}") from None
    return layers


def _init_args(name: str) -> set[str]:
    import inspect

    import keras

    return set(inspect.signature(getattr(keras.layers, name).__init__).parameters)
