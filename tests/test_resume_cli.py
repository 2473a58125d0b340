"""`kopt train resume=...` decisions that need no training: which run, which overrides, which status."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import TINY, assert_clean_error, run_kopt


@pytest.fixture(scope="module")
def composed(tmp_path_factory) -> str:
    proc = run_kopt("train", "--cfg", "job", *TINY, cwd=tmp_path_factory.mktemp("cfg"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fake_run(cwd: Path, composed: str, status: str | None, name: str = "2026-01-01_00-00-00_000000", **extra) -> Path:
    """A run dir as `kopt train TINY` leaves it (config, overrides, summary), without training."""
    run = cwd / "runs" / "train" / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(composed)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in TINY))
    if status:
        (run / "summary.json").write_text(json.dumps({"status": status, "metrics": {}, **extra}))
    return run


def test_completed_run_is_left_alone(tmp_path, composed):
    run = fake_run(tmp_path, composed, "completed")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run.rglob("*"))
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{run.relative_to(tmp_path)} is already completed; nothing to resume" in proc.stdout
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run.rglob("*")) == before


def test_same_valued_overrides_are_accepted(tmp_path, composed):
    fake_run(tmp_path, composed, "completed")
    proc = run_kopt("train", "resume=last", "trainer.epochs=2", "model=mlp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "already completed" in proc.stdout


@pytest.mark.parametrize(
    "override,needle",
    [("trainer.epochs=5", "trainer.epochs: 2 -> 5"), ("model=cnn", "model."), ("seed=3", "seed: 0 -> 3")],
)
def test_conflicting_override_is_refused(tmp_path, composed, override, needle):
    run = fake_run(tmp_path, composed, "interrupted")
    proc = run_kopt("train", f"resume={run.relative_to(tmp_path)}", override, cwd=tmp_path)
    assert_clean_error(proc, override, "conflicts with the config of", needle, "original config")


@pytest.mark.parametrize("override", ["hydra.run.dir=runs/train/elsewhere", "hydra.job.name=other"])
def test_hydra_overrides_are_refused_with_resume(tmp_path, composed, override):
    fake_run(tmp_path, composed, "interrupted")
    proc = run_kopt("train", "resume=last", override, cwd=tmp_path)
    assert_clean_error(proc, override, "cannot be combined with resume")


@pytest.mark.parametrize(
    "target,needle",
    [
        ("last", "no run to resume in runs/train"),
        ("runs/train/missing", "not a kopt run dir"),
        ("../outside", "not a kopt run dir"),  # a run dir may be anywhere, but it must be one
        ("/", "not a kopt run dir"),
        ("runs/../runs/train/x", "not a kopt run dir"),
    ],
)
def test_bad_resume_targets(tmp_path, target, needle):
    proc = run_kopt("train", f"resume={target}", cwd=tmp_path)
    assert_clean_error(proc, needle)
    assert not (tmp_path / "runs" / "train").exists() or not any((tmp_path / "runs" / "train").iterdir())


def test_a_run_that_is_still_running_is_not_resumed(tmp_path, composed):
    import socket

    fake_run(tmp_path, composed, "running", pid=os.getpid(), host=socket.gethostname())  # this test is alive
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert_clean_error(proc, "is still running", f"pid {os.getpid()}")


def test_resume_picks_the_newest_run(tmp_path, composed):
    fake_run(tmp_path, composed, "interrupted", name="2026-01-01_00-00-00_000000")
    newest = fake_run(tmp_path, composed, "completed", name="2026-02-01_00-00-00_000000")
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert proc.returncode == 0 and f"{newest.relative_to(tmp_path)} is already completed" in proc.stdout


def test_sweep_resume_needs_a_matching_sweep(tmp_path):
    proc = run_kopt("train", "-m", *TINY, "seed=0,1", "resume=true", cwd=tmp_path)
    assert_clean_error(proc, "resume=true", "no sweep in runs/multirun was started with these overrides")
    sweep = tmp_path / "runs" / "multirun" / "2026-01-01_00-00-00_000000"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - seed=0,1,2\n  sweep:\n    subdir: ${hydra.job.num}\n"
    )
    proc = run_kopt("train", "-m", *TINY, "seed=0,1", f"resume={sweep.relative_to(tmp_path)}", cwd=tmp_path)
    assert_clean_error(proc, "was started with other overrides", "seed=0,1,2")
    proc = run_kopt("train", f"resume={sweep.relative_to(tmp_path)}", cwd=tmp_path)
    assert_clean_error(proc, "is a sweep", "-m")


def test_resume_cannot_be_swept(tmp_path):
    proc = run_kopt("train", "-m", *TINY, "resume=a,b", cwd=tmp_path)
    assert_clean_error(proc, "resume", "cannot be swept")


def test_a_run_made_before_bn_momentum_resumes_with_the_momentum_it_trained_with(tmp_path, composed):
    from kopt.resume import _read_config

    assert "bn_momentum: 0.9\n" in composed  # today's default is written into a new run's config
    old = fake_run(tmp_path, composed.replace("  bn_momentum: 0.9\n", ""), None)
    assert _read_config(old).regularizer.bn_momentum == 0.99  # Keras' default, before the key
    new = fake_run(tmp_path, composed, None, name="2026-01-02_00-00-00_000000")
    assert _read_config(new).regularizer.bn_momentum == 0.9
