"""An interrupted `kopt train -m` says once how to go on."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "faults"))
from conftest import TINY
from faultlib import start_kopt


def test_an_interrupted_sweep_prints_one_resume_hint(tmp_path):
    """(SIGTERM takes the same path: kopt.training.signals turns it into the same interrupt.)"""
    proc = start_kopt("train", "-m", *TINY, "trainer.epochs=500", "seed=0,1", cwd=tmp_path)
    deadline = time.time() + 300
    while not list(tmp_path.glob("runs/multirun/*/0/metrics.jsonl")):
        assert proc.poll() is None and time.time() < deadline, "the sweep ended before job 0 trained"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    hints = [line for line in (out + err).splitlines() if "resume" in line]
    assert len(hints) == 1 and "resume=true" in hints[0], out + err
    # what ran so far is summed up in the sweep dir kopt chose (the run it interrupted, as such)
    (sweep_dir,) = (tmp_path / "runs" / "multirun").iterdir()
    result = json.loads((sweep_dir / "sweep.json").read_text())
    assert [(job["job"], job["status"]) for job in result["jobs"]] == [("0", "interrupted")]
    assert [(job["job"], job["status"]) for job in result["failed"]] == [("0", "interrupted")]
