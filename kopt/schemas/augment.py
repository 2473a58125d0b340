"""The ``augment`` group's schemas, and which augmentation fits which data (checked before TF loads)."""

from dataclasses import dataclass
from typing import Any

from kopt.errors import KoptError
from kopt.schemas import SCHEMAS, fact, param, schema

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
LABEL_MIXING = {"MixUp", "CutMix"}  # they produce soft labels: training then uses one-hot targets

# Each option states the data it ``needs`` at its registration: "any", "image" or "rgb".


@schema("augment", "none", needs="any")
@dataclass
class NoAugmentConfig:
    name: str


@schema("augment", "light", needs="image")
@dataclass
class LightAugmentConfig:
    """Small random translation, rotation and zoom (fractions of the image size / of a full turn)."""

    name: str
    translate: float = param(ge=0, lt=1)
    rotate: float = param(ge=0, lt=0.5)
    zoom: float = param(ge=0, lt=1)
    fill_mode: str = param(choices=["constant", "nearest", "reflect", "wrap"])


@schema("augment", "standard", needs="image")
@dataclass
class StandardAugmentConfig:
    """The CIFAR recipe: zero-pad by ``pad`` pixels, random crop back, random horizontal flip.

    ``flip: null`` flips unless the dataset holds digits or characters (digits, mnist)."""

    name: str
    pad: int = param(ge=0)
    flip: bool | None


@schema("augment", "noise", needs="any")
@dataclass
class NoiseAugmentConfig:
    """Additive Gaussian noise (keras GaussianNoise) in normalised units."""

    name: str
    stddev: float = param(gt=0, le=1)


@schema("augment", "mixup", needs="any")
@dataclass
class MixUpConfig:
    name: str
    alpha: float = param(gt=0)


@schema("augment", "cutmix", needs="image")
@dataclass
class CutMixConfig:
    """CutMix as Yun et al. 2019: lambda ~ Beta(alpha, alpha) per image; any alpha > 0."""

    name: str
    alpha: float = param(gt=0)


@schema("augment", "randaugment", needs="image")
@dataclass
class RandAugmentConfig:
    name: str
    num_ops: int = param(ge=1, le=11)
    magnitude: float = param(gt=0, le=1)


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


def needs(augment) -> str:
    """What an augment config needs: "any", "image" or "rgb"."""
    return fact("augment", augment.name, "needs", "any", augment)


def check_augment_fits_dataset(cfg) -> None:
    """Refuse image augmentation on tabular data, before TensorFlow loads (where the name tells)."""
    from kopt.schemas.dataset import dataset_channels, dataset_kind

    augment, dataset = cfg.get("augment"), cfg.get("dataset")
    if augment is None or dataset is None:
        return
    need = needs(augment)
    if need != "any" and dataset_kind(dataset) == "tabular":
        refuse(augment.get("name"), dataset.get("name"))
    channels = dataset_channels(dataset)
    if need == "rgb" and channels not in (None, 3):
        refuse_colour(augment.get("name"), dataset.get("name"), channels)


def refuse_colour(augment: str, dataset: str, channels: int) -> None:
    raise KoptError(
        f"augment={augment}: a colour layer (RandomColorJitter, RandomHue, RandomSaturation, "
        f"RandomGrayscale) needs 3-channel images; dataset={dataset} has {channels} channel(s)"
    )


def refuse(augment: str, dataset: str, why: str = "is tabular (one row of features per sample)") -> None:
    ok = ", ".join(sorted(k for k in SCHEMAS["augment"] if SCHEMAS["augment"].fact(k, "needs") == "any"))
    raise KoptError(
        f"augment={augment} transforms images, but dataset={dataset} {why}; allowed for it: {ok} "
        "(or a custom list of GaussianNoise, GaussianDropout, MixUp)"
    )
