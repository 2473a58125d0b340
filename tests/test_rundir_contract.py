"""The run-dir contract (kopt/rundir/): resume keeps every per-fold metric, and the one writer and
reader of summary.json."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TINY


def _fold(fold: int, metrics: dict):
    from kopt.training.run import FoldResult

    return FoldResult(
        fold, best_epoch=1, epochs_run=2, metrics=metrics, probs=np.full((5, 3), 1 / 3, "float32"), duration_s=0.5
    )


@pytest.mark.parametrize(
    "metrics",
    [
        {"val_accuracy": 0.5, "val_loss": 1.0, "test_accuracy": 0.4, "test_loss": 1.1, "test_top2_accuracy": 0.9},
        {"test_accuracy": 0.4, "test_loss": 1.1},  # no validation data (split=refit): no val_* at all
    ],
    ids=["extra_metric", "no_validation"],
)
def test_a_finished_fold_is_restored_with_every_metric(tmp_path, metrics):
    from kopt.training.checkpoint import CheckpointStore

    store = CheckpointStore(tmp_path)
    store.save_result(_fold(0, metrics))
    restored = store.load_result(0)
    assert restored is not None  # not set aside as corrupt (its fold is not trained again)
    assert restored.metrics == metrics


def test_a_resumed_run_keeps_a_new_per_fold_metric(tmp_path, monkeypatch):
    """A per-fold metric beyond the usual four survives an interruption after fold 0 and the resume."""
    import keras

    from kopt.compose import compose_and_validate
    from kopt.errors import Interrupted
    from kopt.training import fit as fit_module  # train_fold scores the test set with its test_metrics
    from kopt.training.run import run_train
    from kopt.validate import validate_train

    plain = fit_module.test_metrics

    def with_top2(probs, y, penalty=0.0, **task):
        top2 = np.argsort(probs, axis=1)[:, -2:]
        return {
            **plain(probs, y, penalty, **task),
            "test_top2_accuracy": float((top2 == y[:, None]).any(axis=1).mean()),
        }

    monkeypatch.setattr(fit_module, "test_metrics", with_top2)

    class StopFold1(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            raise Interrupted(15)

    cfg = compose_and_validate(
        [
            *TINY,
            "dataset.size=120",
            "dataset.shape=[4]",
            "split=kfold",
            "split.k=2",
            "trainer.epochs=1",
            "trainer.checkpoint=false",
        ],
        "config",
        validators=[validate_train],
    )[1][0]
    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        run_train(cfg, run, callbacks_factory=lambda fold, n: [StopFold1()] if fold == 1 else [], quiet=True)
    first = json.loads((run / "summary.json").read_text())
    assert first["status"] == "interrupted" and len(first["folds"]) == 1
    kept = first["folds"][0]["test_top2_accuracy"]

    summary = run_train(cfg, run, quiet=True, resume=True)
    assert summary["status"] == "completed" and summary["resumes"] == 1
    assert [f["fold"] for f in summary["folds"]] == [0, 1]
    assert summary["folds"][0]["test_top2_accuracy"] == kept  # the restored fold, not trained again
    assert "test_top2_accuracy" in summary["folds"][1]
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["folds"][0]["test_top2_accuracy"] == kept


def test_a_run_interrupted_after_its_last_fold_keeps_its_steps_per_execution(tmp_path, monkeypatch):
    """Every fold finished, then the run stopped before its summary was completed: the resume trains
    nothing, and summary.json still says how the folds were trained (issue 21 records the
    steps_per_execution that auto chose; the resume dropped it)."""
    from kopt.compose import compose_and_validate
    from kopt.errors import Interrupted
    from kopt.training import run as run_module
    from kopt.validate import validate_train

    original, calls = run_module._finish, []

    def stop_once(ctx):
        calls.append(1)
        if len(calls) == 1:
            raise Interrupted(15)
        return original(ctx)

    monkeypatch.setattr(run_module, "_finish", stop_once)
    cfg = compose_and_validate(
        [*TINY, "split=kfold", "split.k=2", "trainer.epochs=1"], "config", validators=[validate_train]
    )[1][0]
    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        run_module.run_train(cfg, run, quiet=True)
    first = json.loads((run / "summary.json").read_text())
    assert first["status"] == "interrupted" and len(first["folds"]) == 2
    assert first["steps_per_execution"] >= 1

    summary = run_module.run_train(cfg, run, quiet=True, resume=True)
    assert summary["status"] == "completed" and summary["resumes"] == 1
    assert summary["steps_per_execution"] == first["steps_per_execution"]
    assert json.loads((run / "summary.json").read_text())["steps_per_execution"] == first["steps_per_execution"]


def _write(run, **raw):
    run.mkdir(parents=True, exist_ok=True)
    (run / "summary.json").write_text(json.dumps(raw))


def test_transitions_change_the_status_and_keep_every_other_key(tmp_path):
    from kopt import rundir

    run = tmp_path / "trial"
    _write(run, status="failed", error="TrialPruned", folds=[], seed=3, newer_key={"x": 1})
    rundir.mark_pruned(run, {"pruned_epoch": 2, "pruned_fold": 0, "pruned_step": 2})
    got = json.loads((run / "summary.json").read_text())
    assert got == {
        "status": "pruned",
        "folds": [],
        "seed": 3,
        "newer_key": {"x": 1},
        "pruned_epoch": 2,
        "pruned_fold": 0,
        "pruned_step": 2,
    }

    rundir.mark_interrupted(run, "interrupted: its process (1) died")  # only a running run is interrupted
    assert json.loads((run / "summary.json").read_text())["status"] == "pruned"
    _write(run, status="running", folds=[{"fold": 0, "test_top2_accuracy": 0.5}], pid=1)
    rundir.mark_interrupted(run, "interrupted: its process (1) died")
    got = json.loads((run / "summary.json").read_text())
    assert got["status"] == "interrupted" and got["error"].startswith("interrupted") and got["pid"] == 1
    assert got["folds"] == [{"fold": 0, "test_top2_accuracy": 0.5}]


def test_a_sweep_job_outcome_is_recorded_with_or_without_a_summary(tmp_path):
    from kopt import rundir

    rundir.record_outcome(tmp_path / "new", "interrupted", "SIGTERM", seed=7)  # before training started
    assert json.loads((tmp_path / "new" / "summary.json").read_text()) == {
        "status": "interrupted",
        "folds": [],
        "seed": 7,
        "run_dir": str(tmp_path / "new"),
        "error": "SIGTERM",
    }
    rundir.record_outcome(tmp_path / "new", "failed", "boom", seed=7)  # interrupted, then failed: failed
    got = json.loads((tmp_path / "new" / "summary.json").read_text())
    assert got["status"] == "failed" and got["error"] == "SIGTERM"  # the first error is kept
    _write(tmp_path / "done", status="completed", metrics={"val_accuracy": 0.9})
    rundir.record_outcome(tmp_path / "done", "interrupted", "SIGINT", seed=0)  # a completed run stays so
    assert json.loads((tmp_path / "done" / "summary.json").read_text())["status"] == "completed"


def test_one_reader_strict_or_lenient(tmp_path):
    from kopt import rundir
    from kopt.errors import KoptError
    from kopt.runfiles import BadFile

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KoptError, match="no summary.json"):
        rundir.load_run(empty)
    lenient = rundir.load_run(empty, strict=False)
    assert lenient.summary.status == rundir.UNKNOWN and lenient.folds == []

    _write(tmp_path / "failed", status="failed", folds=[], error="boom")
    with pytest.raises(KoptError, match="only completed runs"):
        rundir.load_run(tmp_path / "failed")
    assert rundir.load_run(tmp_path / "failed", strict=False).summary.error == "boom"

    _write(tmp_path / "bad", status="completed", folds=[1, 2])
    for strict in (True, False):
        with pytest.raises(BadFile, match="folds"):
            rundir.load_run(tmp_path / "bad", strict=strict)


def test_fold_means_average_every_per_fold_score():
    from kopt.rundir import fold_means

    folds = [
        {"fold": 0, "best_epoch": 1, "epochs_run": 2, "val_loss": 1.0, "test_top2_accuracy": 0.5, "duration_s": 3.0},
        {"fold": 1, "best_epoch": 2, "epochs_run": 2, "val_loss": 3.0, "test_top2_accuracy": 1.0, "duration_s": 5.0},
    ]
    means = fold_means(folds)
    assert list(means) == ["val_loss", "val_loss_std", "test_top2_accuracy", "test_top2_accuracy_std"]
    assert means["val_loss"] == 2.0 and means["test_top2_accuracy"] == 0.75


def test_fold_means_std_is_the_sample_std():
    """``<name>_std`` is the sample standard deviation (ddof=1): for [1, 3] it is sqrt(2), not 1."""
    import math

    from kopt.rundir import fold_means

    folds = [{"fold": 0, "val_loss": 1.0, "test_acc": 0.5}, {"fold": 1, "val_loss": 3.0, "test_acc": 0.5}]
    means = fold_means(folds)
    assert means["val_loss_std"] == pytest.approx(math.sqrt(2))
    assert means["test_acc_std"] == 0.0
    three = fold_means([{"fold": i, "val_loss": v} for i, v in enumerate([1.0, 2.0, 6.0])])
    assert three["val_loss"] == 3.0 and three["val_loss_std"] == pytest.approx(math.sqrt(7))
    assert "val_loss_std" not in fold_means([{"fold": 0, "val_loss": 1.0}])


def test_summary_json_is_written_only_by_kopt_rundir():
    """Every other module writes summary.json through kopt.rundir (the only writer)."""
    import re
    from pathlib import Path

    import kopt

    root = Path(kopt.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.parent.name == "rundir":
            continue
        for line in path.read_text().splitlines():
            if re.search(r"atomic_write_\w+\(.*summary", line, re.IGNORECASE):
                offenders.append(f"{path.relative_to(root)}: {line.strip()}")
    assert offenders == []
