"""Test-time augmentation: the mean of a model's probabilities over flipped and shifted copies.

Used on the test set only (``trainer.tta``, reported beside the plain test metrics) and by
``kopt predict --tta``; training and validation never see it. Views of an image batch
``(n, H, W, C)``:

  none       the images as they are (1 forward pass)
  flip       + the horizontal mirror (2 passes)
  crop       + the image shifted by H/8 (at least 1 pixel) up, down, left and right, the border
             repeated at the edge (5 passes): the pad-and-crop of augment=standard
  flip+crop  both (6 passes)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from kopt.errors import KoptError
from kopt.schemas.trainer import TTA_MODES as MODES  # the option's values live with its schema


def check(mode: str, x_shape: tuple[int, ...], key: str = "trainer.tta") -> None:
    if mode not in MODES:
        raise KoptError(f"{key}={mode}: unknown; allowed: {', '.join(MODES)}")
    if mode != "none" and len(x_shape) != 4:
        raise KoptError(
            f"{key}={mode}: flips and crops need images (n, H, W, C); these inputs are tabular "
            f"(shape {tuple(x_shape[1:])}); allowed: none"
        )


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``x`` moved by (dy, dx) pixels, the edge rows/columns repeated into the gap."""
    h, w = x.shape[1:3]
    p = max(abs(dy), abs(dx))
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    return padded[:, p - dy : p - dy + h, p - dx : p - dx + w]


def views(x: np.ndarray, mode: str) -> Iterator[np.ndarray]:
    check(mode, x.shape)
    yield x
    if "flip" in mode:
        yield x[:, :, ::-1]
    if "crop" in mode:
        s = max(1, round(min(x.shape[1:3]) / 8))
        for dy, dx in ((s, 0), (-s, 0), (0, s), (0, -s)):
            yield _shift(x, dy, dx)


def n_views(mode: str) -> int:
    return 1 + ("flip" in mode) + 4 * ("crop" in mode)


def average(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, mode: str) -> np.ndarray:
    """The mean of ``predict(view)`` over the views of ``x`` (one forward pass per view)."""
    total = None
    for view in views(np.asarray(x), mode):
        probs = np.asarray(predict(np.ascontiguousarray(view)), dtype="float64")
        total = probs if total is None else total + probs
    return (total / n_views(mode)).astype("float32")
