"""The names a run dir's summary.json uses: statuses and metrics (spelled here only).

A run's ``status`` is one of :data:`WRITTEN` on disk; readers add :data:`DIED` (the summary says
running but its process on this host is gone) and :data:`UNKNOWN` (no summary.json).
"""

from __future__ import annotations

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
PRUNED = "pruned"  # a tune trial stopped by its pruner (run_train first records it as failed)
INTERRUPTED = "interrupted"  # SIGINT/SIGTERM, or a trial whose process died; resumable
WRITTEN = (RUNNING, COMPLETED, FAILED, PRUNED, INTERRUPTED)
DIED = "died"  # read side only: never written
UNKNOWN = "unknown"  # read side only: a run dir without summary.json

VAL_ACCURACY = "val_accuracy"
VAL_LOSS = "val_loss"
TEST_ACCURACY = "test_accuracy"
TEST_LOSS = "test_loss"
VAL_METRICS = (VAL_ACCURACY, VAL_LOSS)  # chosen on validation data: trainer.monitor, tuner.metric
FOLD_METRICS = (VAL_ACCURACY, VAL_LOSS, TEST_ACCURACY, TEST_LOSS)  # every run's per-fold scores
FOLD_FIELDS = ("fold", "best_epoch", "epochs_run", "duration_s")  # per-fold keys that are not scores
# A k-fold run has two test scores: ``metrics``' means over its fold models, and the score of the
# folds averaged into one model (their class probabilities averaged, as predictions.npz's ``probs``,
# kopt predict and kopt export use them), recorded under this key of summary.json.
FOLDS_AVERAGED = "folds_averaged"


def mean_of_folds(n: int) -> str:
    """What ``metrics`` of an n-fold run is, in words (tables, kopt ab, the model card)."""
    return f"mean of {n} fold models"


def folds_averaged(n: int) -> str:
    """What ``folds_averaged`` of an n-fold run is, in words."""
    return f"the {n} folds averaged"
