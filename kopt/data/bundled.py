"""Datasets that ship with scikit-learn (always offline) and the generated ``synthetic`` data."""

from __future__ import annotations

import numpy as np

from kopt.data.base import Data, loader

# dataset name -> scikit-learn loader function (tabular: one row of numeric features per sample)
TABULAR = {"iris": "load_iris", "wine": "load_wine", "breast_cancer": "load_breast_cancer"}


@loader("digits")
def load_digits(cfg) -> Data:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = bunch.images.astype("float32")[..., None]  # (n, 8, 8, 1), values 0..16
    return Data(x, bunch.target.astype("int64"), "digits", "image", [str(c) for c in bunch.target_names])


def _tabular(name: str):
    def load(cfg) -> Data:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, TABULAR[name])()
        return Data(
            bunch.data.astype("float32"),
            bunch.target.astype("int64"),
            name,
            "tabular",
            [str(c) for c in bunch.target_names],
        )

    load.__name__ = f"load_{name}"
    return load


for _name in TABULAR:
    loader(_name)(_tabular(_name))  # their facts (kind="tabular") are stated with their schema


@loader("synthetic")
def load_synthetic(cfg, seed: int = 0) -> Data:
    """Class prototypes on a unit scale plus Gaussian noise of std ``noise``: harder as noise grows."""
    rng = np.random.default_rng(seed + 7919)
    shape = tuple(int(s) for s in cfg.shape)
    classes, size = cfg.classes, cfg.size
    prototypes = rng.normal(0.0, 1.0, size=(classes, *shape)).astype("float32")
    y = np.arange(size) % classes
    rng.shuffle(y)
    x = prototypes[y] + rng.normal(0.0, cfg.noise, size=(size, *shape)).astype("float32")
    kind = "tabular" if len(shape) == 1 else "image"  # (H, W) gains a channel axis in check_data
    return Data(x.astype("float32"), y.astype("int64"), "synthetic", kind, [str(c) for c in range(classes)])
