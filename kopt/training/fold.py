"""One fold of a run: what it trains with (:class:`FoldContext`) and what it gives (:class:`FoldResult`).

:mod:`kopt.training.run` trains folds; :mod:`kopt.training.checkpoint` stores a finished fold and
reads it back on resume. Both import these records from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np


@dataclass
class FoldResult:
    fold: int
    best_epoch: int
    epochs_run: int
    metrics: dict
    probs: np.ndarray | None  # the test set's class probabilities (None: a tune trial, validation only)
    duration_s: float

    def row(self) -> dict:
        return {
            "fold": self.fold,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            **self.metrics,
            "duration_s": self.duration_s,
        }


@dataclass
class FoldContext:
    """Everything :func:`kopt.training.fit.train_fold` needs: the run's part, the same for every fold
    (made once by ``run_train``), and the fold's own part (:meth:`for_fold`)."""

    state: Any  # kopt.training.run.RunState: the config, the run dir
    data: Any  # kopt.data.base.Data
    writer: Any  # kopt.rundir.MetricsWriter: metrics.jsonl
    callbacks_factory: Callable[[int, int], list] | None = None  # (fold, n_folds) -> extra Keras callbacks
    store: Any = None  # kopt.training.checkpoint.CheckpointStore (None: not resumable)
    resume: bool = False  # continue from the fold's newest epoch checkpoint
    strategy: Any = None  # the tf.distribute strategy, resolved once per run (None: default)
    test_idx: np.ndarray | None = None  # the run's test set (dataset indices)
    n_folds: int = 1
    fold: int = 0
    train_idx: np.ndarray | None = None
    val_idx: np.ndarray | None = None
    # a tune trial (kopt.tune.running.trial): no test-set evaluation, and its model saved only where
    # ``keep_model(fold metrics, n_folds)`` says so (the study keeps the models of its top trials only)
    score_test: bool = True
    keep_model: Callable[[dict, int], bool] | None = None
    # the run's compiled model, kept from fold to fold (kopt.training.reuse.KeptModel; None: a new one each fold)
    kept: Any = None

    def for_fold(self, fold: int, train_idx: np.ndarray, val_idx: np.ndarray) -> FoldContext:
        return replace(self, fold=fold, train_idx=train_idx, val_idx=val_idx)
