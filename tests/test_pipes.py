"""A closed pipe (``kopt ... | head -1``) ends the command quietly, as ``git log | head`` does:
exit 0 or 141 (the SIGPIPE convention), nothing on stderr, no traceback; a run it stops is
marked interrupted (resumable), not left running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import TINY, kopt_env


def first_line_then_close(args: list[str], cwd: Path) -> tuple[str, int, str]:
    """Run kopt with stdout into a pipe, read one line, close the pipe (the reader went away, as
    ``head -1`` does), and wait: (the line, exit code, stderr)."""
    err_path = cwd / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kopt", *args],
            cwd=cwd,
            env=kopt_env(),
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        line = proc.stdout.readline()
        proc.stdout.close()
        code = proc.wait(timeout=300)
    return line, code, err_path.read_text()


def fake_runs(root: Path, n: int) -> None:
    for i in range(n):
        run = root / "runs" / "train" / f"2026-01-01_00-00-00_{i:06d}"
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(f"- model.width={i}\n")
        summary = {
            "status": "completed",
            "metrics": {"val_accuracy": 0.5, "val_loss": 1.0, "test_accuracy": 0.5, "test_loss": 1.0},
            "folds": [{"fold": 0, "val_accuracy": 0.5}],
            "choices": {"model": "mlp"},
            "seed": 0,
        }
        (run / "summary.json").write_text(json.dumps(summary))
    failed = root / "runs" / "train" / "2026-01-02_00-00-00_000000"  # a 'not completed:' line after the table
    failed.mkdir(parents=True)
    (failed / "summary.json").write_text(json.dumps({"status": "failed", "error": "boom", "folds": []}))


def test_report_into_a_closed_pipe_ends_quietly(tmp_path):
    fake_runs(tmp_path, 700)  # more than a pipe's buffer (64 KiB): the writes must meet the closed pipe
    line, code, err = first_line_then_close(["report", "runs"], tmp_path)
    assert "kopt report: 701 run(s)" in line
    assert code in (0, 141), (code, err)
    assert err == "", err


def test_report_through_head_with_a_real_shell_pipe(tmp_path):
    fake_runs(tmp_path, 700)
    cmd = f'{sys.executable} -m kopt report runs | head -1; echo "rc=${{PIPESTATUS[0]}}"'
    proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=kopt_env(), capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    assert "kopt report: 701 run(s)" in lines[0] and lines[-1] in ("rc=0", "rc=141"), proc.stdout
    assert proc.stderr == "", proc.stderr


def test_a_sweep_into_a_closed_pipe_ends_quietly_and_marks_its_run_interrupted(tmp_path):
    line, code, err = first_line_then_close(["train", "-m", *TINY, "trainer.epochs=3"], tmp_path)
    assert "Launching 1 jobs" in line, line
    assert code in (0, 141), (code, err)
    assert "Traceback" not in err and "Logging error" not in err and "BrokenPipe" not in err, err
    assert err == "", err
    for summary in tmp_path.glob("runs/multirun/*/0/summary.json"):
        data = json.loads(summary.read_text())
        assert data["status"] == "interrupted" and data["error"] == "SIGPIPE", data


def test_a_run_into_a_closed_pipe_is_marked_interrupted(tmp_path):
    line, code, err = first_line_then_close(["train", *TINY, "trainer.epochs=3"], tmp_path)
    assert line.startswith("kopt train"), line
    assert code in (0, 141), (code, err)
    assert err == "", err
    summaries = list(tmp_path.glob("runs/train/*/summary.json"))
    for summary in summaries:
        data = json.loads(summary.read_text())
        assert data["status"] == "interrupted" and data["error"] == "SIGPIPE", data
