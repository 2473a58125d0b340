"""Faults around where a run writes: `resume=` aimed at the wrong dir, a run that is still
starting, and Hydra's run/sweep dirs anywhere the user can write (but never into another run)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import TINY, assert_clean_error, read_summary, run_kopt
from faultlib import start_kopt

pytestmark = pytest.mark.slow


def fake_run(cwd: Path, config: str, name: str, started_at: str, status: str = "completed") -> Path:
    run = cwd / "runs" / "train" / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(config)
    (run / "summary.json").write_text(json.dumps({"status": status, "metrics": {}, "started_at": started_at}))
    return run


def test_resume_last_is_the_most_recently_started_run(tmp_path):
    config = run_kopt("train", "--cfg", "job", *TINY, cwd=tmp_path).stdout
    fake_run(tmp_path, config, "baseline", "2026-01-01T00:00:00+00:00")  # sorts last by name, started first
    fake_run(tmp_path, config, "2026-03-01_00-00-00_000000", "2026-03-01T00:00:00+00:00")
    fake_run(tmp_path, config, "2026-02-01_00-00-00_000000", "2026-02-01T00:00:00+00:00")
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "runs/train/2026-03-01_00-00-00_000000 is already completed" in proc.stdout


def test_resume_of_a_study_dir_is_refused(tmp_path):
    study = tmp_path / "runs" / "tune" / "s"
    (study / ".hydra").mkdir(parents=True)
    (study / ".hydra" / "config.yaml").write_text(
        run_kopt("tune", "--cfg", "job", *TINY, "search.model.width=choice(8, 16)", cwd=tmp_path).stdout
    )
    (study / "summary.json").write_text(json.dumps({"study": "s", "counts": {"COMPLETE": 2}, "best_trial": 0}))
    before = (study / "summary.json").read_bytes()
    proc = run_kopt("train", "resume=runs/tune/s", cwd=tmp_path)
    assert_clean_error(proc, "resume=runs/tune/s", "not a kopt train run")
    assert (study / "summary.json").read_bytes() == before
    assert sorted(p.name for p in study.iterdir()) == [".hydra", "summary.json"]


def test_resume_of_a_run_that_is_still_starting_is_refused(tmp_path):
    proc = start_kopt("train", *TINY, "trainer.epochs=30", cwd=tmp_path)
    try:
        deadline = time.time() + 120
        while not list(tmp_path.glob("runs/train/*/.hydra/config.yaml")):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.01)
        run = next(tmp_path.glob("runs/train/*"))
        resume = run_kopt("train", f"resume=runs/train/{run.name}", cwd=tmp_path)
        assert_clean_error(resume, "is still running", f"pid {proc.pid}")
    finally:
        proc.kill()
        proc.communicate()


def test_run_and_sweep_dirs_anywhere_and_read_only_commands_take_them(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "scratch" / "sweep"
    work.mkdir()
    proc = run_kopt("train", *TINY, "hydra.run.dir=elsewhere/x", cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = work / "elsewhere" / "x"
    assert read_summary(run)["status"] == "completed" and not (work / "runs").exists()
    proc = run_kopt("train", "-m", *TINY, "model.width=8,12", f"hydra.sweep.dir={outside}", cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [read_summary(outside / j)["status"] for j in ("0", "1")] == ["completed"] * 2

    report = run_kopt("report", "elsewhere/x", str(outside), cwd=work)
    assert report.returncode == 0 and report.stdout.count("completed") >= 3, report.stdout + report.stderr
    compare = run_kopt("compare", "elsewhere/x", str(outside / "0"), "--out", "cmp", cwd=work)
    assert compare.returncode == 0 and (work / "cmp" / "comparison.json").is_file(), compare.stderr
    ensemble = run_kopt("ensemble", "elsewhere/x", str(outside / "0"), str(outside / "1"), "--out", "ens", cwd=work)
    assert ensemble.returncode == 0, ensemble.stderr
    resume = run_kopt("train", "resume=elsewhere/x", cwd=work)
    assert resume.returncode == 0 and "elsewhere/x is already completed" in resume.stdout, resume.stderr

    summary = (run / "summary.json").read_bytes()
    again = run_kopt("train", *TINY, "seed=1", "hydra.run.dir=elsewhere/x", cwd=work)  # not into that run
    assert_clean_error(again, "hydra.run.dir=elsewhere/x", "already holds a kopt run", "resume=")
    assert (run / "summary.json").read_bytes() == summary
    again = run_kopt("train", "-m", *TINY, "model.width=8,12", f"hydra.sweep.dir={outside}", cwd=work)
    assert_clean_error(again, "hydra.sweep.dir", "already holds a kopt sweep", "resume=true")


@pytest.mark.parametrize("override", ["name=a/b", "tuner.study_name=../x", "hydra.job.name=a/b"])
def test_names_that_become_path_components_are_still_refused(override, tmp_path):
    proc = run_kopt("tune" if override.startswith("tuner") else "train", "--cfg", "job", override, cwd=tmp_path)
    assert_clean_error(proc, override.split("=")[0])
