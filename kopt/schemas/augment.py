"""The ``augment`` group: which augmentation fits which data (checked before TF loads). Each option's
schema lives with its builder, one module per option in kopt/data/augments/."""

from kopt.errors import KoptError
from kopt.schemas import SCHEMAS, fact

LABEL_MIXING = {"MixUp", "CutMix"}  # they produce soft labels: training then uses one-hot targets

# Each option (one module in kopt/data/augments/: its schema and its builder) states the data it
# ``needs`` at its registration: "any", "image" or "rgb".


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
