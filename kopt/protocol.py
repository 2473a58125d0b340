"""The scoring protocol: which epoch's model a fold keeps, and so what its validation score means.

``trainer.protocol`` (``kopt ab ... protocol=...``) is recorded as ``protocol`` in summary.json:

- ``best_epoch``: the epoch with the best ``trainer.monitor`` on the fold's validation part is
  kept. That part chose the epoch, so its score is the maximum of noisy epoch scores: biased
  upwards, and more so for a model whose validation score fluctuates more from epoch to epoch.
  Right for choosing a model; wrong for comparing two of them on the same folds.
- ``fixed``: every fold trains ``trainer.epochs`` epochs and keeps the last; the validation part
  chose nothing, so its score is a fair sample for the paired tests of `kopt compare`.

No TensorFlow here.
"""

from __future__ import annotations

import numpy as np

PROTOCOLS = {
    "best_epoch": "best epoch chosen on the scored fold",
    "fixed": "fixed epoch count, last epoch scored",
}
SELECTS_ON_SCORED = ("best_epoch",)  # protocols whose fold scores chose themselves
UNKNOWN = "unknown, probably best-epoch selection"  # runs written before the protocol was recorded


def fold_score(curves, protocol: str, higher_is_better: bool = True) -> np.ndarray:
    """The score a fold reports, from its validation curve (the last axis: epochs).

    Vectorised over any leading axes, so a simulation scores thousands of folds at once; it is
    what ``training.callbacks.BestEpoch`` does epoch by epoch."""
    curves = np.asarray(curves, dtype=np.float64)
    if protocol == "fixed":
        return curves[..., -1]
    if protocol == "best_epoch":
        return curves.max(axis=-1) if higher_is_better else curves.min(axis=-1)
    raise ValueError(f"protocol={protocol!r}; allowed: {', '.join(PROTOCOLS)}")


def of_run(summary: dict) -> tuple[str, bool]:
    """(protocol as a user reads it, whether the fold scores were selected on the scored folds)."""
    protocol = summary.get("protocol")
    if protocol is None:
        return UNKNOWN, True
    return str(protocol), protocol in SELECTS_ON_SCORED
