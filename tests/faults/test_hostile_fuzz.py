"""Property test (issue 15.6): `kopt report`, `compare` and `ensemble` on generated malformed run dirs
(random JSON shapes, random npz arrays, FIFOs, links, folders where files belong) exit 0 or
with exactly one `kopt: error:` line, never with a traceback, and within a time limit.

The commands run in-process (no TensorFlow on their path), each under an alarm that turns a
hang into a failure; FIFOs, which would block a real process forever, also run as subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import kopt_env
from hostile import finished_run, kopt_in_process
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

LIMIT_S = 30  # far above the milliseconds these commands take; only a hang reaches it

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
SUMMARY_KEYS = [
    "status",
    "folds",
    "metrics",
    "choices",
    "params",
    "duration_s",
    "seed",
    "error",
    "started_at",
    "name",
    "pid",
    "host",
]
summaries = st.one_of(  # summary.json texts
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"status": st.sampled_from(["completed", "running", "failed"])},
        optional={k: json_values for k in SUMMARY_KEYS[1:]},
    ).map(json.dumps),
    st.integers(10, 200_000).map(lambda n: '{"status": "completed", "x": ' + "[" * n + "]" * n + "}"),
)
dtypes = st.sampled_from(["int64", "int32", "uint8", "float32", "float64", "bool", "complex64", "<U3", "float16"])
arrays = dtypes.flatmap(lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6)))
PREDICTION_KEYS = ["y_true", "probs", "fold_probs", "test_idx", "other"]
npz_contents = st.dictionaries(st.sampled_from(PREDICTION_KEYS), arrays, max_size=5)
FILES = [
    "summary.json",
    "predictions.npz",
    "splits.npz",
    ".hydra/config.yaml",
    ".hydra/overrides.yaml",
    "metrics.jsonl",
]
kinds = st.sampled_from(["link-outside", "link-loop", "folder", "fifo", "bytes", "empty"])


class Hang(BaseException):
    """Raised by the alarm: not an OSError (TimeoutError is one), so no `except OSError` in kopt hides it."""


@contextmanager
def alarm(seconds: int):
    def timeout(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check(result: tuple[int, str, str]) -> None:
    code, out, err = result
    assert "Traceback" not in out + err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("kopt: error:")]
    assert (code == 0 and not errors) or (code == 2 and len(errors) == 1), (code, err[-3000:])


def run_all(root: Path, good: Path, bad: Path) -> None:
    with alarm(LIMIT_S):
        check(kopt_in_process("report", "runs", cwd=root))
        check(kopt_in_process("compare", str(good), str(bad), "--resamples", "50", cwd=root))
        check(kopt_in_process("ensemble", str(bad), cwd=root))
        check(kopt_in_process("ensemble", str(good), str(bad), "--method", "weighted", cwd=root))


def fresh(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    return root, finished_run(root / "runs" / "train" / "good"), finished_run(root / "runs" / "train" / "bad")


def replace(path: Path, kind: str, root: Path, data: bytes = b"") -> None:
    if path.is_dir():
        path.rmdir()
    else:
        path.unlink(missing_ok=True)
    if kind == "link-outside":
        outside = root / "outside.bin"
        outside.write_bytes(b"{}")
        path.symlink_to(outside)
    elif kind == "link-loop":
        path.symlink_to(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(data if kind == "bytes" else b"")


FUZZ = settings(
    max_examples=int(os.environ.get("KOPT_HOSTILE_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@FUZZ
@given(summary=summaries)
def test_random_summaries(tmp_path, summary):
    root, good, bad = fresh(tmp_path)
    (bad / "summary.json").write_text(summary)
    run_all(root, good, bad)


@FUZZ
@given(contents=npz_contents, name=st.sampled_from(["predictions.npz", "splits.npz"]))
def test_random_npz_arrays(tmp_path, contents, name):
    root, good, bad = fresh(tmp_path)
    with np.load(bad / name, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(contents)
    np.savez_compressed(bad / name, **arrays)
    run_all(root, good, bad)


@FUZZ
@given(name=st.sampled_from(FILES), kind=kinds, data=st.binary(max_size=64))
@example(name="summary.json", kind="fifo", data=b"")  # hung `kopt report` forever
@example(name="summary.json", kind="link-loop", data=b"")
def test_odd_files_where_run_files_belong(tmp_path, name, kind, data):
    root, good, bad = fresh(tmp_path)
    replace(bad / name, kind, root, data)
    run_all(root, good, bad)


def test_fifos_never_hang_a_real_process(tmp_path):
    root, good, bad = fresh(tmp_path)
    replace(bad / "predictions.npz", "fifo", root)
    replace(bad / "metrics.jsonl", "fifo", root)  # read for --plot's curves
    other = finished_run(root / "runs" / "train" / "other")
    replace(other / "summary.json", "fifo", root)
    for args in (["report", "runs", "--plot"], ["ensemble", str(bad)]):
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "kopt", *args],
                cwd=root,
                env=kopt_env(),
                text=True,
                capture_output=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"kopt {args[0]} hangs on a FIFO in a run dir")
        check((proc.returncode, proc.stdout, proc.stderr))
