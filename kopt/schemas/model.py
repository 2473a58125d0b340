from dataclasses import dataclass

from kopt.schemas import param, schema


@schema("model", "mlp")
@dataclass
class MLPConfig:
    name: str = "mlp"
    width: int = param(128, ge=1)
    depth: int = param(2, ge=1)


@schema("model", "cnn")
@dataclass
class CNNConfig:
    name: str = "cnn"
    filters: int = param(32, ge=1)
    blocks: int = param(2, ge=1)
    convs_per_block: int = param(2, ge=1)
    kernel_size: int = param(3, ge=1)
    dense: int = param(128, ge=0)


# Models that convolve over (H, W, C) images; the rest (mlp) take any input.
IMAGE_MODELS = {"cnn", "resnet", "densenet", "wrn"}


def check_model_fits_dataset(cfg) -> None:
    """Refuse an image model on tabular data before anything runs (where the config tells)."""
    from kopt.errors import KoptError
    from kopt.schemas.dataset import dataset_kind

    model, dataset = cfg.get("model"), cfg.get("dataset")
    if model is None or dataset is None:
        return
    if model.get("name") in IMAGE_MODELS and dataset_kind(dataset) == "tabular":
        raise KoptError(f"model={model.get('name')} needs image input (H, W, C), but dataset={dataset.get('name')} "
                        "is tabular; use model=mlp")
