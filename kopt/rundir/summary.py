"""summary.json: one typed record (:class:`Summary`) and its only writer.

A train run, a sweep job, a tune trial and a study's retrain all write this record (a study's
own summary.json, runs/tune/<study>/summary.json, is the study's table, written by
kopt/tune/results/report.py through :func:`write_json_summary`). Status changes after the fact are
transitions performed here: :func:`claim` (running, by this process), :func:`record_outcome` (a
sweep job that failed or was interrupted, even before training started), :func:`mark_pruned` (a
trial that its pruner stopped: run_train recorded it as failed), :func:`mark_interrupted` (a trial
whose process died while running).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kopt.rundir.files import SUMMARY, atomic_write_json
from kopt.rundir.names import FAILED, FOLD_FIELDS, FOLD_METRICS, INTERRUPTED, PRUNED, RUNNING


@dataclass
class Summary:
    """summary.json as a record. A field that is None is not written; keys this record does not
    name (a pruned trial's ``pruned_epoch``, a newer kopt's) travel in ``extra``, unchanged."""

    status: str
    metrics: dict[str, float] | None = None  # the mean (and ``<name>_std`` over >1 folds) of each per-fold score
    folds: list[dict] = field(default_factory=list)  # one row per finished fold: FOLD_FIELDS + its scores
    params: int | None = None
    duration_s: float | None = None
    seed: int | str | None = None
    protocol: str | None = None  # kopt.protocol
    monitor: str | None = None  # trainer.monitor as the run read it (auto resolved: kopt.schemas.metrics)
    choices: dict[str, str] | None = None  # the option of each config group
    run_dir: str | None = None
    started_at: str | None = None  # ISO 8601, UTC; a resumed run keeps its first
    finished_at: str | None = None  # the last write
    versions: dict | None = None
    pid: int | None = None  # the process that last wrote it, and its host
    host: str | None = None
    resumes: int | None = None
    data: dict | None = None  # the dataset: name, n, n_test, input_shape, classes, class_names[, label_encoding]
    error: str | None = None  # why it failed, or the signal that interrupted it
    # a k-fold run's test scores of its folds averaged into one model (kopt.rundir.names.FOLDS_AVERAGED):
    # models (k), test_accuracy, test_loss (the cross-entropy of the averaged probabilities)
    folds_averaged: dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict) -> Summary:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in raw.items() if k in known}, extra={k: v for k, v in raw.items() if k not in known}
        )

    def to_dict(self) -> dict:
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "extra" and getattr(self, f.name) is not None
        }
        out.update(self.extra)
        return out

    def scores(self) -> list[str]:
        """The names of the per-fold scores: the usual four first, then any other."""
        names = [k for k in FOLD_METRICS if any(k in f for f in self.folds)]
        for fold in self.folds:
            names.extend(k for k in fold if k not in names and k not in FOLD_FIELDS and k != "params")
        return names


def fold_means(folds: list[dict]) -> dict[str, float]:
    """``metrics``: each per-fold score's mean, and its sample std over more than one fold."""
    import numpy as np

    metrics = {}
    for key in Summary("", folds=folds).scores():
        values = [f[key] for f in folds if isinstance(f.get(key), (int, float)) and not isinstance(f.get(key), bool)]
        if values:
            metrics[key] = float(np.mean(values))
            if len(values) > 1:
                metrics[key + "_std"] = float(np.std(values, ddof=1))
    return metrics


def write_summary(run_dir: Path, summary: Summary) -> dict:
    """Write ``run_dir/summary.json`` atomically; returns what was written."""
    data = summary.to_dict()
    atomic_write_json(Path(run_dir) / SUMMARY, data)
    return data


def write_json_summary(folder: Path, data: dict) -> None:
    """A study's summary.json (its own shape: counts, best trial, search; see kopt/tune/results/report.py)."""
    atomic_write_json(Path(folder) / SUMMARY, data)


def _on_disk(run_dir: Path) -> Summary | None:
    """The summary as written (no type checks: a transition keeps what it does not touch), or None."""
    from kopt.runfiles import read_json_object

    try:
        return Summary.from_dict(read_json_object(Path(run_dir) / SUMMARY, root=run_dir))
    except (OSError, ValueError, TypeError):  # missing, unreadable (BadFile is a ValueError), a non-string key
        return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def claim(run_dir: Path, previous: dict, seed: int) -> None:
    """Mark ``run_dir`` as running in this process (before TensorFlow loads), keeping what
    ``previous`` (its summary so far) recorded."""
    now = _now()
    raw = {
        "folds": [],
        "seed": seed,
        "run_dir": str(run_dir),
        "started_at": now,
        **previous,
        "status": RUNNING,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "finished_at": now,
    }
    write_summary(run_dir, Summary.from_dict(raw))


def record_outcome(run_dir: Path, status: str, error: str, seed: int) -> None:
    """Make sure a sweep job's summary says it failed or was interrupted, even when that happened
    before training started (no summary yet): running (or none) -> ``status``; anything but
    failed -> failed. A recorded error is kept."""
    summary = _on_disk(run_dir) or Summary(status="", folds=[], seed=seed, run_dir=str(run_dir))
    if summary.status in ("", RUNNING) or (status == FAILED and summary.status != FAILED):
        summary.status, summary.error = status, summary.error or error
        write_summary(run_dir, summary)


def mark_pruned(run_dir: Path, where: dict) -> None:
    """failed -> pruned: run_train recorded the pruner's stop as a failure; ``where`` (pruned_epoch,
    pruned_fold, pruned_step) says when it stopped."""
    summary = _on_disk(run_dir)
    if summary is None:
        return
    summary.status, summary.error = PRUNED, None
    summary.extra.update(where)
    write_summary(run_dir, summary)


def mark_interrupted(run_dir: Path, reason: str) -> None:
    """running -> interrupted: the trial's process died (found by the study's recovery)."""
    summary = _on_disk(run_dir)
    if summary is not None and summary.status == RUNNING:
        summary.status, summary.error = INTERRUPTED, reason
        write_summary(run_dir, summary)
