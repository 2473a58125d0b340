"""Faults in `kopt train`: SIGTERM / SIGINT / SIGKILL at seeded random epochs, then resume;
corrupt checkpoints. Each resumed run must equal an uninterrupted one (CPU, fixed seed, 1e-6),
epoch by epoch, and leave a consistent run dir behind."""

from __future__ import annotations

import json
import shutil
import signal

import numpy as np
import pytest
from conftest import only_run_dir, read_summary, run_kopt
from faultlib import (
    SLOW,
    assert_close_rows,
    assert_same_metrics,
    fault_rng,
    interrupt,
    metric_rows,
    resume_command,
    start_kopt,
    wait_for_rows,
)

pytestmark = pytest.mark.slow

K, EPOCHS = 2, 4
CONFIG = [*SLOW, "split=kfold", f"split.k={K}", f"trainer.epochs={EPOCHS}", "seed=5"]
TOTAL = K * EPOCHS  # metrics.jsonl rows of a finished run


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every resumed one is compared with."""
    cwd = tmp_path_factory.mktemp("reference")
    proc = run_kopt("train", *CONFIG, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(cwd)
    with np.load(run / "predictions.npz", allow_pickle=False) as z:
        probs = z["fold_probs"]
    return {"summary": read_summary(run), "rows": metric_rows(run / "metrics.jsonl"), "probs": probs, "dir": run}


def checkpointed_epochs(run) -> int:
    """How many epochs (over all folds) the checkpoints of ``run`` hold."""
    folder = run / "checkpoints"
    done = len(list(folder.glob("fold*-result.npz"))) * EPOCHS
    epochs = [int(p.stem.split("-epoch")[1]) for p in folder.glob("fold*-epoch*.npz")]
    return done + max(epochs, default=0)


def assert_equals_reference(run, reference) -> None:
    summary = read_summary(run)
    assert summary["status"] == "completed"
    assert_same_metrics(summary["metrics"], reference["summary"]["metrics"])
    assert [f["best_epoch"] for f in summary["folds"]] == [f["best_epoch"] for f in reference["summary"]["folds"]]
    assert [f["epochs_run"] for f in summary["folds"]] == [EPOCHS] * K
    assert_close_rows(metric_rows(run / "metrics.jsonl"), reference["rows"])
    with np.load(run / "predictions.npz", allow_pickle=False) as z:
        np.testing.assert_allclose(z["fold_probs"], reference["probs"], atol=1e-6)
    assert sorted(p.name for p in run.glob("model_fold*.keras")) == [f"model_fold{k}.keras" for k in range(K)]
    assert not (run / "checkpoints").exists()  # removed once the run completed


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"]
)
def test_signal_at_random_epoch_then_resume_equals_uninterrupted(signum, tmp_path, reference):
    at = fault_rng(signal.Signals(signum).name).randint(1, TOTAL - 3)  # leave the signal time to land
    proc = start_kopt("train", *CONFIG, cwd=tmp_path)
    metrics = wait_for_rows(proc, "runs/train/*/metrics.jsonl", tmp_path, at)
    out, err = interrupt(proc, signum)
    run = metrics.parent
    summary = read_summary(run)
    finished = metric_rows(metrics)
    assert len(finished) >= at, f"finished epochs lost (signal after {at})"
    if signum != signal.SIGKILL:  # a caught signal waits for the checkpoint of the epoch it interrupted
        assert checkpointed_epochs(run) >= at
    if signum == signal.SIGKILL:
        assert summary["status"] == "running"  # no chance to say more; resume must cope
        args = ["train", f"resume={run.relative_to(tmp_path)}"]
    else:
        assert summary["status"] == "interrupted" and summary["error"] == signal.Signals(signum).name
        args = resume_command(out)  # the command the run printed
        assert args == ["train", f"resume={run.relative_to(tmp_path)}"]
    proc = run_kopt(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "resuming" in proc.stdout
    assert only_run_dir(tmp_path) == run  # continued in place, no new run dir
    assert_equals_reference(run, reference)
    assert read_summary(run)["resumes"] == 1


def test_two_interruptions_in_one_run(tmp_path, reference):
    rng = fault_rng("twice")
    first = rng.randint(1, 3)
    proc = start_kopt("train", *CONFIG, cwd=tmp_path)
    run = wait_for_rows(proc, "runs/train/*/metrics.jsonl", tmp_path, first).parent
    interrupt(proc, signal.SIGKILL)
    second = len(metric_rows(run / "metrics.jsonl")) + rng.randint(1, 2)
    proc = start_kopt("train", "resume=last", cwd=tmp_path)
    wait_for_rows(proc, "runs/train/*/metrics.jsonl", tmp_path, second)
    interrupt(proc, signal.SIGTERM)
    assert read_summary(run)["status"] == "interrupted"
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_equals_reference(run, reference)
    assert read_summary(run)["resumes"] == 2


@pytest.fixture(scope="module")
def stopped_in_fold_1(tmp_path_factory):
    """A run stopped by SIGTERM inside fold 1 (each test damages a copy of it)."""
    cwd = tmp_path_factory.mktemp("stopped")
    proc = start_kopt("train", *CONFIG, cwd=cwd)
    run = wait_for_rows(proc, "runs/train/*/metrics.jsonl", cwd, EPOCHS + 2).parent  # inside fold 1
    interrupt(proc, signal.SIGTERM)
    return run


@pytest.mark.parametrize("damage", ["newest", "all"])
def test_corrupt_checkpoint_names_the_file_and_falls_back(damage, tmp_path, reference, stopped_in_fold_1):
    """The newest checkpoint truncated: resume says which file and continues from the one before.
    Every checkpoint damaged (fold result too): the folds are trained again. Same result either way."""
    run = tmp_path / "runs" / "train" / stopped_in_fold_1.name
    shutil.copytree(stopped_in_fold_1, run)
    files = sorted((run / "checkpoints").glob("*.npz"))
    epochs = sorted(p for p in files if "-epoch" in p.name)
    assert len(epochs) == 2 and (run / "checkpoints" / "fold0-result.npz") in files  # the previous one is kept
    victims = [epochs[-1]] if damage == "newest" else files
    for path in victims:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if path == epochs[-1] else b"not a checkpoint")
    proc = run_kopt("train", f"resume={run.relative_to(tmp_path)}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("kopt: warning: checkpoint")]
    assert len(warnings) == len(victims), proc.stderr
    for path in victims:
        assert any(str(path.relative_to(tmp_path)) in w or str(path) in w for w in warnings), (path, warnings)
    if damage == "newest":
        assert f"from {epochs[0].relative_to(tmp_path)}" in proc.stdout  # resumed from the previous good one
    assert "Traceback" not in proc.stderr
    assert_equals_reference(run, reference)


def test_resume_of_a_completed_run_changes_nothing(reference, tmp_path):
    run = reference["dir"]
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()}
    proc = run_kopt("train", f"resume={run}", cwd=run.parents[2])
    assert proc.returncode == 0, proc.stderr
    assert "already completed" in proc.stdout
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()} == before
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def interrupted_and_resumed(config: list[str], tmp_path, fault: str):
    """An uninterrupted run of ``config``, and one stopped by SIGTERM at a seeded epoch then resumed
    with ``resume=last``; asserts the resumed one equals the reference. Returns (reference, resumed)."""
    ref_dir = tmp_path / "reference"
    ref_dir.mkdir()
    proc = run_kopt("train", *config, cwd=ref_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = only_run_dir(ref_dir)
    proc = start_kopt("train", *config, cwd=tmp_path)
    run = wait_for_rows(proc, "runs/train/*/metrics.jsonl", tmp_path, fault_rng(fault).randint(1, 2)).parent
    interrupt(proc, signal.SIGTERM)
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming after epoch" in proc.stdout
    assert_same_metrics(read_summary(run)["metrics"], read_summary(reference)["metrics"])
    assert_close_rows(metric_rows(run / "metrics.jsonl"), metric_rows(reference / "metrics.jsonl"))
    return reference, run


def test_augmented_run_resumes_exactly(tmp_path):
    """Augmentation seeds come from (seed, pass, batch): a resumed mixup run equals an uninterrupted one."""
    interrupted_and_resumed([*SLOW, "augment=mixup", "trainer.epochs=4", "seed=2"], tmp_path, "augment")


# every training switch on (trainer.steps_per_execution is `auto` in every test here: 16 of 160 batches)
SWITCHES = [
    "trainer.label_smoothing=0.1",
    "optimizer.ema=0.9",
    "optimizer.accumulate=3",  # 3: not a divisor of 160
    "trainer.precision=mixed_bfloat16",
]


def test_run_with_every_switch_on_resumes_exactly(tmp_path):
    """Gradient accumulators, the weight average and several steps per execution live in the
    optimizer and the batch stream: a resumed run with all of them equals an uninterrupted one."""
    reference, run = interrupted_and_resumed([*SLOW, *SWITCHES, "trainer.epochs=4", "seed=4"], tmp_path, "switches")
    assert read_summary(reference)["steps_per_execution"] == 16
    with np.load(run / "predictions.npz") as got, np.load(reference / "predictions.npz") as want:
        np.testing.assert_allclose(got["probs"], want["probs"], atol=1e-6)
