"""The run-dir contract: what a run dir holds, its one writer and its one reader.

A run dir holds:
  .hydra/config.yaml, .hydra/overrides.yaml   the composed config and the overrides
  metrics.jsonl      one JSON object per epoch per fold
  summary.json       status, metrics, folds, params, duration_s, seed, versions (:class:`Summary`)
  model.keras / model_fold<k>.keras
  predictions.npz    test-set y_true, probs (n, classes), fold_probs (k, n, classes), test_idx
  splits.npz         the test/train/val indices of every fold
  train.log          the log file

The package:
  names.py    status and metric names (the only place they are spelled out)
  files.py    file names, atomic writes, metrics.jsonl, the writability probe
  summary.py  the :class:`Summary` record and the only writer of summary.json, with its transitions
  read.py     the one reader, :func:`load_run` (strict or lenient), on top of kopt/runfiles.py
"""

from kopt.rundir.files import (
    METRICS,
    PREDICTIONS,
    SPLITS,
    STUDY_OWNER,
    SUMMARY,
    MetricsWriter,
    _atomic,
    atomic_save_model,
    atomic_savez,
    atomic_write_json,
    atomic_write_text,
    check_writable,
    read_json,
    read_metrics,
)
from kopt.rundir.names import (
    COMPLETED,
    DIED,
    FAILED,
    FOLD_FIELDS,
    FOLD_METRICS,
    FOLDS_AVERAGED,
    INTERRUPTED,
    PRUNED,
    RUNNING,
    TEST_ACCURACY,
    TEST_LOSS,
    UNKNOWN,
    VAL_ACCURACY,
    VAL_LOSS,
    VAL_METRICS,
    WRITTEN,
)
from kopt.rundir.read import RunDir, check_predictions, load_run, read_summary
from kopt.rundir.summary import (
    Summary,
    claim,
    fold_means,
    mark_interrupted,
    mark_pruned,
    record_outcome,
    write_json_summary,
    write_summary,
)

__all__ = [
    "METRICS",
    "PREDICTIONS",
    "SPLITS",
    "STUDY_OWNER",
    "SUMMARY",
    "MetricsWriter",
    "_atomic",
    "atomic_save_model",
    "atomic_savez",
    "atomic_write_json",
    "atomic_write_text",
    "check_writable",
    "read_json",
    "read_metrics",
    "COMPLETED",
    "DIED",
    "FAILED",
    "FOLD_FIELDS",
    "FOLDS_AVERAGED",
    "FOLD_METRICS",
    "INTERRUPTED",
    "PRUNED",
    "RUNNING",
    "TEST_ACCURACY",
    "TEST_LOSS",
    "UNKNOWN",
    "VAL_ACCURACY",
    "VAL_LOSS",
    "VAL_METRICS",
    "WRITTEN",
    "RunDir",
    "check_predictions",
    "load_run",
    "read_summary",
    "Summary",
    "claim",
    "fold_means",
    "mark_interrupted",
    "mark_pruned",
    "record_outcome",
    "write_json_summary",
    "write_summary",
]
