"""Issue 30, item 4: `kopt train` makes the user wait for nothing after its results. A single run
leaves its last fold's Keras session to the exit instead of clearing it (a full garbage collection),
and the process ends without Python's teardown of TensorFlow's objects, once everything is written:
its exit handlers still run, the run dir is complete. A sweep (`-m`) still clears every job's session.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import TINY, run_python

# `kopt` as its own process (main() reads sys.argv), with keras.backend.clear_session counted and
# an exit handler that says so (the exit handlers still run).
WRAPPER = """
import atexit, sys
import keras

calls = []
clear = keras.backend.clear_session
keras.backend.clear_session = lambda *a, **k: (calls.append(1), clear(*a, **k))[1]
atexit.register(lambda: sys.stderr.write(f"exit handlers ran; clear_session calls: {len(calls)}\\n"))
sys.argv = ["kopt", *sys.argv[1:]]
from kopt.cli import main

main()
"""


def run_wrapped(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Forked as run_kopt's kopt is: the end of the process is kopt.cli's either way (the fork server's
    child ends as Python would, and kopt ends before that); only the imports are not paid again."""
    script = tmp_path / "wrapped_kopt.py"
    script.write_text(WRAPPER)
    return run_python(str(script), *args, cwd=tmp_path, timeout=600)


def test_kopt_train_ends_without_clearing_its_last_session_or_tearing_python_down(tmp_path):
    proc = run_wrapped(tmp_path, "train", *TINY, "trainer.epochs=1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exit handlers ran; clear_session calls: 0" in proc.stderr
    (run_dir,) = (tmp_path / "runs" / "train").iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    for name in ("curves.png", "metrics.csv", "model.keras", "predictions.npz"):
        assert (run_dir / name).stat().st_size > 0, name
    assert f"run dir {run_dir}" in proc.stdout.replace("\n", "")  # the table, flushed before the exit
    assert "run dir" in (run_dir / "train.log").read_text()  # the log file too
    # a sweep's jobs share the process: each job's session is still cleared
    proc = run_wrapped(tmp_path, "train", "-m", *TINY, "trainer.epochs=1", "seed=0,1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exit handlers ran; clear_session calls: 2" in proc.stderr
