"""The ``dataset`` group: each option is a loader returning a :class:`Data`.

Loaders return numpy arrays (features float32, labels int64) plus metadata; no loader
touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kopt.errors import KoptError


@dataclass
class Data:
    x: np.ndarray
    y: np.ndarray
    name: str
    kind: str  # "image" (H, W, C) or "tabular" (features,)
    class_names: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


LOADERS: dict[str, Callable[..., Data]] = {}


def loader(name: str):
    def register(fn):
        LOADERS[name] = fn
        return fn

    return register


@loader("digits")
def load_digits(cfg) -> Data:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = bunch.images.astype("float32")[..., None]  # (n, 8, 8, 1), values 0..16
    return Data(x, bunch.target.astype("int64"), "digits", "image", [str(c) for c in bunch.target_names])


@loader("synthetic")
def load_synthetic(cfg, seed: int = 0) -> Data:
    """Class prototypes on a unit scale plus Gaussian noise of std ``noise``: harder as noise grows."""
    rng = np.random.default_rng(seed + 7919)
    shape = tuple(int(s) for s in cfg.shape)
    classes, size = int(cfg.classes), int(cfg.size)
    prototypes = rng.normal(0.0, 1.0, size=(classes, *shape)).astype("float32")
    y = np.arange(size) % classes
    rng.shuffle(y)
    x = prototypes[y] + rng.normal(0.0, float(cfg.noise), size=(size, *shape)).astype("float32")
    kind = "image" if len(shape) == 3 else "tabular"
    return Data(x.astype("float32"), y.astype("int64"), "synthetic", kind, [str(c) for c in range(classes)])


def stratified_limit(data: Data, limit: int | None, seed: int) -> Data:
    if not limit or limit >= len(data.y):
        return data
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data.y))
    try:
        keep, _ = train_test_split(idx, train_size=int(limit), stratify=data.y, random_state=seed)
    except ValueError as exc:
        raise KoptError(f"dataset.limit={limit}: {exc}") from None
    keep = np.sort(keep)
    return Data(data.x[keep], data.y[keep], data.name, data.kind, data.class_names)


def load_dataset(cfg, seed: int) -> Data:
    name = cfg.name
    if name not in LOADERS:
        raise KoptError(f"dataset={name}: no loader; allowed: {', '.join(sorted(LOADERS))}")
    fn = LOADERS[name]
    data = fn(cfg, seed=seed) if "seed" in fn.__code__.co_varnames else fn(cfg)
    return stratified_limit(data, cfg.get("limit"), seed)
