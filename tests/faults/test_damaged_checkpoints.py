"""Issue 15.7: damaged checkpoints on resume. A checkpoint with missing arrays or header fields, or
an epoch out of range, is set aside like a corrupt file and the previous good one is used; a
metrics.jsonl torn mid-line is repaired from the checkpoint's record; rows of a fold trained
again stay in (fold, epoch) order."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import only_run_dir, read_summary, run_kopt
from faultlib import (
    SLOW,
    assert_close_rows,
    assert_same_metrics,
    interrupt,
    metric_rows,
    start_kopt,
    wait_for_rows,
)

pytestmark = pytest.mark.slow

K, EPOCHS = 2, 4
CONFIG = [*SLOW, "split=kfold", f"split.k={K}", f"trainer.epochs={EPOCHS}", "seed=3"]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run stopped by SIGTERM inside fold 1, with two epoch checkpoints of fold 1 and fold 0's result."""
    cwd = tmp_path_factory.mktemp("interrupted")
    proc = start_kopt("train", *CONFIG, cwd=cwd)
    run = wait_for_rows(proc, "runs/train/*/metrics.jsonl", cwd, EPOCHS + 2).parent
    interrupt(proc, signal.SIGTERM)
    epochs = sorted((run / "checkpoints").glob("fold1-epoch*.npz"))
    assert len(epochs) == 2 and (run / "checkpoints" / "fold0-result.npz").is_file()
    return run


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The same config run start to end: what every resumed run must equal."""
    cwd = tmp_path_factory.mktemp("uninterrupted")
    proc = run_kopt("train", *CONFIG, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run_dir(cwd)


def assert_equals_uninterrupted(run, reference) -> None:
    """A resumed run's metrics (every epoch's row and the summary) and test predictions are those of
    the run that was never interrupted: model, optimizer state and RNG states all came back."""
    assert_close_rows(metric_rows(run / "metrics.jsonl"), metric_rows(reference / "metrics.jsonl"))
    assert_same_metrics(read_summary(run)["metrics"], read_summary(reference)["metrics"])
    with np.load(run / "predictions.npz") as got, np.load(reference / "predictions.npz") as want:
        np.testing.assert_allclose(got["fold_probs"], want["fold_probs"], atol=1e-6)


@pytest.fixture
def run(interrupted, tmp_path):
    copy = tmp_path / "runs" / "train" / interrupted.name
    shutil.copytree(interrupted, copy)
    return copy


def edit_checkpoint(path, change) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta, arrays)
    arrays["meta"] = np.asarray(json.dumps(meta))
    np.savez(path, **arrays)


def resume(run, tmp_path) -> subprocess.CompletedProcess:
    proc = run_kopt("train", f"resume={run.relative_to(tmp_path)}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    summary = read_summary(run)
    assert summary["status"] == "completed" and [f["epochs_run"] for f in summary["folds"]] == [EPOCHS] * K
    return proc


def warnings_about(proc, *paths) -> list[str]:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("kopt: warning: checkpoint")]
    for path in paths:
        assert any(path.name in w and "unreadable" in w for w in lines), (path.name, proc.stderr[-3000:])
    return lines


def test_a_checkpoint_without_a_header_field_falls_back_to_the_previous_one(run, tmp_path, uninterrupted):
    older, newest = sorted((run / "checkpoints").glob("fold1-epoch*.npz"))
    edit_checkpoint(newest, lambda meta, arrays: meta.pop("fit_done"))
    proc = resume(run, tmp_path)
    assert "fit_done" in warnings_about(proc, newest)[0]
    assert f"after epoch {int(older.stem.split('epoch')[1])}/{EPOCHS}" in proc.stdout
    assert_equals_uninterrupted(run, uninterrupted)


def test_an_epoch_out_of_range_and_missing_rng_arrays_are_set_aside(run, tmp_path):
    older, newest = sorted((run / "checkpoints").glob("fold1-epoch*.npz"))
    edit_checkpoint(newest, lambda meta, arrays: meta.update(epoch=999))
    edit_checkpoint(older, lambda meta, arrays: arrays.pop("rng/numpy/keys"))
    proc = resume(run, tmp_path)
    warnings = warnings_about(proc, newest, older)
    assert any("out of range" in w for w in warnings) and any("rng/numpy/keys" in w for w in warnings)
    assert "resuming fold 2/2" not in proc.stdout  # nothing usable left: fold 1 is trained from its start
    assert (run / "checkpoints").exists() is False


def test_torn_metrics_repaired_and_a_retrained_fold_keeps_its_place(run, tmp_path, uninterrupted):
    """fold 0's result damaged (trained again after fold 1 began), metrics.jsonl cut mid-line, and a
    summary that still says `running` for a process that is gone (an OOM kill): shown as died."""
    (run / "checkpoints" / "fold0-result.npz").write_bytes(b"not a checkpoint")
    metrics = run / "metrics.jsonl"
    text = metrics.read_text()
    metrics.write_text(text[: len(text) - 25])  # the last row torn mid-line
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    summary = read_summary(run)
    (run / "summary.json").write_text(json.dumps({**summary, "status": "running", "pid": dead.pid}))
    proc = resume(run, tmp_path)
    lines = metrics.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # every line whole
    keys = [(r["fold"], r["epoch"]) for r in metric_rows(metrics)]
    assert keys == [(f, e) for f in range(K) for e in range(1, EPOCHS + 1)]
    assert any("rows of fold 1" in line and "restored" in line for line in proc.stderr.splitlines()), proc.stderr
    assert "(status died)" in proc.stdout
    assert_equals_uninterrupted(run, uninterrupted)
