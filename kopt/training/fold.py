"""What one fold of a run is made of: its result (:class:`FoldResult`).

Both :mod:`kopt.training.run` (which trains folds) and :mod:`kopt.training.checkpoint` (which
stores a finished fold and reads it back on resume) import it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FoldResult:
    fold: int
    best_epoch: int
    epochs_run: int
    metrics: dict
    probs: np.ndarray
    duration_s: float

    def row(self) -> dict:
        return {"fold": self.fold, "best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
                **self.metrics, "duration_s": self.duration_s}
