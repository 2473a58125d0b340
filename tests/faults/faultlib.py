"""Helpers of the fault suite: start `kopt` in the background, wait for epochs, hit it with signals."""

from __future__ import annotations

import ctypes
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import conftest
from conftest import kopt_env

# Long enough epochs (100-160 batches) that a signal sent after epoch N lands inside the run.
SLOW = [
    "dataset=synthetic",
    "dataset.size=2000",
    "model=mlp",
    "model.width=16",
    "model.depth=1",
    "trainer.batch_size=8",
    "trainer.intra_threads=1",
    "trainer.inter_threads=1",
]
# The seed of the "random" fault points; set KOPT_FAULT_SEED to explore others.
FAULT_SEED = int(os.environ.get("KOPT_FAULT_SEED", "8"))


def fault_rng(name: str) -> random.Random:
    return random.Random(f"{FAULT_SEED}-{name}")


def start_kopt(*args: str, cwd: Path, env: dict | None = None, merge_stderr: bool = False):
    """`kopt ARGS` started in the background in ``cwd`` (tests/conftest.py's start_kopt: forked from
    the worker's preloaded server where a fork behaves as a fresh process, else a real subprocess)."""
    return conftest.start_kopt(*args, cwd=cwd, env=env, merge_stderr=merge_stderr)


def metric_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_rows(proc: subprocess.Popen, pattern: str, cwd: Path, rows: int, timeout: float = 300) -> Path:
    """Wait until a metrics.jsonl matching ``pattern`` (under cwd) has ``rows`` rows; return it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for path in cwd.glob(pattern):
            if len(metric_rows(path)) >= rows:
                return path
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(
                f"kopt ended (rc {proc.returncode}) before {rows} epochs:\n{out[-3000:]}\n{(err or '')[-3000:]}"
            )
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"no {rows} epochs in {pattern} after {timeout}s")


def interrupt(proc: subprocess.Popen, signum: int, timeout: float = 300) -> tuple[str, str]:
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=timeout)
    if signum != signal.SIGKILL:
        assert proc.returncode == 128 + signum, f"rc {proc.returncode}\n{out[-3000:]}\n{(err or '')[-3000:]}"
        assert "Traceback" not in out + err, err
    else:
        assert proc.returncode == -signal.SIGKILL
    return out, err


def resume_command(stdout: str) -> list[str]:
    """The `kopt train resume=...` line an interrupted run prints, as arguments after `kopt`."""
    line = next(line for line in stdout.splitlines() if "resume with: kopt train resume=" in line)
    return shlex.split(line.split("resume with: kopt ", 1)[1])


def comparable(rows: list[dict]) -> list[dict]:
    """metrics.jsonl rows without the wall-clock column, in (fold, epoch) order."""
    return sorted(({k: v for k, v in r.items() if k != "time_s"} for r in rows), key=lambda r: (r["fold"], r["epoch"]))


def assert_close_rows(got: list[dict], want: list[dict], tol: float = 1e-6) -> None:
    got, want = comparable(got), comparable(want)
    assert [(r["fold"], r["epoch"]) for r in got] == [(r["fold"], r["epoch"]) for r in want]
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for key in a:
            assert abs(a[key] - b[key]) <= tol * max(1.0, abs(b[key])), (a["fold"], a["epoch"], key, a[key], b[key])


def assert_same_metrics(got: dict, want: dict, tol: float = 1e-6) -> None:
    assert got.keys() == want.keys()
    for key in want:
        assert abs(got[key] - want[key]) <= tol, (key, got[key], want[key])


def _drop_dac_caps() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: root would ignore the read-only mode
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """`kopt ARGS` that honours file permissions even when the tests run as root."""
    preexec = _drop_dac_caps if os.geteuid() == 0 else None
    return subprocess.run(
        [sys.executable, "-m", "kopt", *args],
        cwd=cwd,
        env=kopt_env(),
        text=True,
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec,
    )


def permissions_enforced(folder: Path) -> bool:
    """Whether a process started by :func:`run_unprivileged` really cannot write in ``folder``."""
    probe = subprocess.run(
        [sys.executable, "-c", f"open({str(folder / 'probe')!r}, 'w')"],
        capture_output=True,
        preexec_fn=_drop_dac_caps if os.geteuid() == 0 else None,
    )
    return probe.returncode != 0
