"""SIGTERM in the first seconds of `kopt train` and `kopt tune` (before TensorFlow has loaded) ends
like one during training: exit 143, one line, and a run dir marked interrupted once it exists."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY, kopt_env


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kopt", *args], cwd=cwd, env=kopt_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def term_after_lines(proc: subprocess.Popen, lines: int, stream: str = "stdout") -> tuple[list[str], str, str]:
    """Read ``lines`` lines of ``stream``, send SIGTERM, and return them with the rest of the output."""
    seen = [getattr(proc, stream).readline() for _ in range(lines)]
    assert all(seen), (seen, proc.communicate())
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    return seen, out, err


def assert_terminated(proc: subprocess.Popen, out: str, err: str) -> None:
    assert proc.returncode == 143, f"rc {proc.returncode}\n{out}\n{err}"
    assert "Traceback" not in out + err, err
    assert "kopt: interrupted (SIGTERM)" in err, err


def test_sigterm_at_the_first_line_of_kopt_train(tmp_path):
    """The title line is printed once the config is composed, before the run dir exists."""
    proc = start("train", *TINY, cwd=tmp_path)
    (first,), out, err = term_after_lines(proc, 1)
    assert first.startswith("kopt train"), first
    assert_terminated(proc, out, err)
    for summary in tmp_path.glob("runs/train/*/summary.json"):  # if Hydra had created it already
        assert json.loads(summary.read_text())["status"] == "interrupted"


def test_sigterm_while_tensorflow_loads_marks_the_run_interrupted(tmp_path):
    """The run dir line comes right before TensorFlow is imported: the run dir exists from then on."""
    proc = start("train", *TINY, cwd=tmp_path)
    (_, where), out, err = term_after_lines(proc, 2)
    assert where.startswith("run dir:"), where
    assert_terminated(proc, out, err)
    run_dir = Path(where.split(":", 1)[1].strip())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["error"] == "SIGTERM", summary


@pytest.mark.parametrize("delay", [0.3, 1.0, 2.5])
def test_sigterm_early_in_kopt_tune(tmp_path, delay):
    """Composing, opening the study, loading TensorFlow: a SIGTERM at any of these moments (the
    delays only place the signal, nothing is timed) stops the study with 143 and one line."""
    proc = start("tune", *TINY, "search.optimizer.lr=choice(0.001,0.01)", "tuner.n_trials=1",
                 "tuner.study_name=early", "tuner.retrain_best=false", "tuner.plots=false", cwd=tmp_path)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, f"rc {proc.returncode}\n{out}\n{err}"
    assert "Traceback" not in out + err, err
    assert "kopt: interrupted (SIGTERM)" in err, err
