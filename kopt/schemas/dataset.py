from dataclasses import dataclass, field
from typing import Optional

from kopt.errors import KoptError
from kopt.schemas import param, schema


@schema("dataset", "digits")
@dataclass
class DigitsConfig:
    name: str = "digits"
    limit: Optional[int] = param(None, ge=10)


@schema("dataset", "synthetic")
@dataclass
class SyntheticConfig:
    name: str = "synthetic"
    shape: list[int] = param(factory=lambda: [8, 8, 1], ge=1)
    classes: int = param(10, ge=2)
    size: int = param(1000, ge=10)
    noise: float = param(1.0, ge=0)
    limit: Optional[int] = param(None, ge=10)

    def check(self, prefix: str) -> None:
        if self.size < 5 * self.classes:
            raise KoptError(f"{prefix}.size={self.size} is too small; allowed: >= 5 x {prefix}.classes ({5 * self.classes})")


@schema("dataset", "mnist", "fashion_mnist", "cifar10", "cifar100")
@dataclass
class KerasDatasetConfig:
    """A ``keras.datasets`` loader reading the standard cache ($KERAS_HOME or ~/.keras/datasets)."""

    name: str = "cifar10"
    limit: Optional[int] = param(None, ge=10)
