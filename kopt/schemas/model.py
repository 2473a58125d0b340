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
