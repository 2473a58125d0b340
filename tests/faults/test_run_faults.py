"""Faults around a run: an interrupted sweep, a NaN loss, a read-only output folder."""

from __future__ import annotations

import os
import signal
import stat

import pytest
from conftest import TINY, assert_clean_error, read_summary, run_kopt
from faultlib import (
    SLOW,
    fault_rng,
    interrupt,
    metric_rows,
    permissions_enforced,
    run_unprivileged,
    start_kopt,
    wait_for_rows,
)

pytestmark = pytest.mark.slow


def job_files(job) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(job.iterdir()) if p.is_file()}


def test_sweep_interrupted_then_resumed_skips_completed_jobs(tmp_path):
    sweep_args = ["-m", *SLOW, "trainer.epochs=3", "seed=0,1,2"]
    proc = start_kopt("train", *sweep_args, cwd=tmp_path)
    at = fault_rng("sweep").randint(1, 2)
    metrics = wait_for_rows(proc, "runs/multirun/*/1/metrics.jsonl", tmp_path, at)
    out, err = interrupt(proc, signal.SIGTERM)
    assert "resume=true" in err
    sweep = metrics.parents[1]
    assert read_summary(sweep / "0")["status"] == "completed"
    assert read_summary(sweep / "1")["status"] == "interrupted"
    done = job_files(sweep / "0")
    hydra_cfg = {j: (sweep / j / ".hydra" / "config.yaml").read_text() for j in ("0", "1")}

    proc = run_kopt("train", *sweep_args, "resume=true", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 of 3 jobs completed" in proc.stdout and "job 0 is already completed" in proc.stdout
    assert [p.name for p in (tmp_path / "runs" / "multirun").iterdir()] == [sweep.name]  # no new sweep
    assert job_files(sweep / "0") == done  # finished work untouched
    for job in ("0", "1"):
        assert (sweep / job / ".hydra" / "config.yaml").read_text() == hydra_cfg[job]  # original config kept
    summaries = [read_summary(sweep / j) for j in ("0", "1", "2")]
    assert [s["status"] for s in summaries] == ["completed"] * 3
    assert [s["seed"] for s in summaries] == [0, 1, 2]
    assert summaries[1]["resumes"] == 1 and "resumes" not in summaries[2]
    assert [(r["fold"], r["epoch"]) for r in metric_rows(sweep / "1" / "metrics.jsonl")] == [(0, 1), (0, 2), (0, 3)]


def test_nan_loss_fails_with_the_reason_and_sweep_keeps_finished_jobs(tmp_path):
    args = ["-m", *TINY, "optimizer=sgd", "optimizer.lr=0.01,1e30"]
    proc = run_kopt("train", *args, cwd=tmp_path)
    assert_clean_error(proc, "1 job(s) failed", "job 1", "NaN/inf loss at epoch 1")
    assert proc.returncode == 1
    sweep = next((tmp_path / "runs" / "multirun").iterdir())
    good, bad = read_summary(sweep / "0"), read_summary(sweep / "1")
    assert good["status"] == "completed"
    assert bad["status"] == "failed" and "NaN/inf loss" in bad["error"]
    assert not list((sweep / "1").glob("checkpoints/*-epoch*.npz"))  # a NaN epoch is never a resume point
    done = job_files(sweep / "0")

    proc = run_kopt("train", *args, "resume=true", cwd=tmp_path)  # failed jobs are redone: NaN again
    assert_clean_error(proc, "1 job(s) failed", "NaN/inf loss")
    assert job_files(sweep / "0") == done
    assert read_summary(sweep / "1")["status"] == "failed"


def test_nan_loss_single_run_is_marked_failed(tmp_path):
    proc = run_kopt("train", *TINY, "optimizer=sgd", "optimizer.lr=1e30", cwd=tmp_path)
    assert_clean_error(proc, "NaN/inf loss at epoch 1", "optimizer.lr")
    assert proc.returncode == 1
    run = next((tmp_path / "runs" / "train").iterdir())
    summary = read_summary(run)
    assert summary["status"] == "failed" and "NaN/inf loss" in summary["error"]
    assert len(metric_rows(run / "metrics.jsonl")) == 1


@pytest.fixture
def read_only_runs(tmp_path):
    runs = tmp_path / "runs"
    (runs / "train").mkdir(parents=True)
    for folder in (runs / "train", runs):
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        if not permissions_enforced(runs / "train"):
            pytest.skip("cannot make a folder read-only for this user here")
        yield runs
    finally:
        for folder in (runs, runs / "train"):
            folder.chmod(stat.S_IRWXU)


def test_read_only_output_folder_fails_before_training(tmp_path, read_only_runs):
    proc = run_unprivileged("train", *TINY, cwd=tmp_path)
    assert_clean_error(proc, "cannot write the run dir", "runs/train", "not writable")
    assert proc.returncode == 2
    assert "epoch" not in proc.stdout  # nothing trained
    assert os.listdir(read_only_runs / "train") == []


def test_read_only_output_folder_fails_before_a_sweep(tmp_path, read_only_runs):
    proc = run_unprivileged("train", "-m", *TINY, "seed=0,1", cwd=tmp_path)
    assert_clean_error(proc, "cannot write the run dir", "runs", "not writable")
    assert sorted(os.listdir(read_only_runs)) == ["train"]


def test_resume_into_a_read_only_run_dir_fails_before_training(tmp_path):
    """An interrupted run whose dir became read-only: a clear error, the run dir untouched."""
    proc = run_kopt("train", "--cfg", "job", *TINY, cwd=tmp_path)
    run = tmp_path / "runs" / "train" / "2026-01-01_00-00-00_000000"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(proc.stdout)
    (run / "summary.json").write_text('{"status": "interrupted", "metrics": {}}')
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    run.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if not permissions_enforced(run):
            pytest.skip("cannot make a folder read-only for this user here")
        proc = run_unprivileged("train", "resume=last", cwd=tmp_path)
    finally:
        run.chmod(stat.S_IRWXU)
    assert_clean_error(proc, "cannot write the run dir", "not writable")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
