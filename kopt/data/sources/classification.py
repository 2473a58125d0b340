"""``dataset=classification``: scikit-learn's ``make_classification``, a tabular problem generated
from ``random_state`` (the same data whatever the run's seed), always offline.

This module and ``configs/dataset/classification.yaml`` (every default value) are the whole
option: the schema (types and ranges) with its facts, and the loader.
"""

from __future__ import annotations

from dataclasses import dataclass

from kopt.data.base import Data, loader
from kopt.errors import KoptError
from kopt.schemas import param, schema
from kopt.schemas.metrics import TASKS


@schema(
    "dataset", "classification", kind="tabular", signature=lambda cfg: ((cfg.features,), cfg.classes), task="multiclass"
)
@dataclass
class ClassificationConfig:
    name: str
    task: str = param(choices=TASKS)  # kopt.schemas.metrics: auto reads it from the labels
    size: int = param(ge=10)
    features: int = param(ge=1)
    informative: int = param(ge=1)
    classes: int = param(ge=2)
    class_sep: float = param(gt=0)
    random_state: int = param(ge=0, le=2**32 - 1)
    limit: int | None = param(ge=10)

    def check(self, prefix: str) -> None:
        if self.informative > self.features:
            raise KoptError(
                f"{prefix}.informative={self.informative} with {prefix}.features={self.features}: "
                "allowed: informative <= features"
            )
        if self.classes > 2**self.informative:  # one cluster per class, at the corners of a hypercube
            raise KoptError(
                f"{prefix}.classes={self.classes} with {prefix}.informative={self.informative}: "
                f"allowed: classes <= 2^informative ({2**self.informative})"
            )
        if self.size < 5 * self.classes:
            raise KoptError(
                f"{prefix}.size={self.size} is too small; allowed: >= 5 x {prefix}.classes ({5 * self.classes})"
            )


@loader("classification")
def load_classification(cfg) -> Data:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=cfg.size,
        n_features=cfg.features,
        n_informative=cfg.informative,
        n_redundant=0,
        n_classes=cfg.classes,
        n_clusters_per_class=1,
        class_sep=cfg.class_sep,
        random_state=cfg.random_state,
    )
    return Data(
        x.astype("float32"), y.astype("int64"), "classification", "tabular", [str(c) for c in range(cfg.classes)]
    )
