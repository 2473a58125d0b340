"""kopt.tune.running.forked: the workers of `tuner.n_workers` forked from one server that imported
TensorFlow once. A forked worker starts as a fresh one would (its own session, its environment, its
log, its exit code, a signal's death as Popen reports it); test_tune_cli runs a whole study on them."""

from __future__ import annotations

import os

import pytest

from kopt.tune.running import forked, workers
from kopt.tune.running.timeline import read_timeline


@pytest.fixture(scope="module")
def server():
    """One fork server for the tests that only ask it for a worker: each start imports TensorFlow (~4 CPU s)."""
    yield
    forked.stop_server()


@pytest.fixture
def fresh_server():
    """A fork server started by the test itself (none left by another test)."""
    forked.stop_server()
    yield
    forked.stop_server()


def _args(study_dir, index: int) -> list[str]:
    return ["--storage", str(study_dir / "journal.log"), "--study", "nope", "--study-dir", str(study_dir)] + [
        "--worker",
        str(index),
        "--threads",
        "1",
    ]


def test_a_forked_worker_has_its_session_environment_log_and_exit_code(tmp_path, server):
    log = tmp_path / "workers" / "0.log"
    log.parent.mkdir()
    log.write_text("an earlier line\n")  # (appended to, as a fresh worker's log is)
    env = {"CUDA_VISIBLE_DEVICES": "7"}
    worker = forked.start(workers._forked_worker, (_args(tmp_path, 0), env, str(log)), "tensorflow")
    assert worker is not None
    assert worker.wait(timeout=120) == 2  # no such study: a clean error, as a fresh worker exits
    assert worker.returncode == worker.poll() == 2
    start = read_timeline(tmp_path / "workers" / "0.timeline")[0]
    assert start["pid"] == worker.pid == start["sid"] != os.getsid(0)  # a session of its own
    assert start["gpu"] == "7"  # its CUDA_VISIBLE_DEVICES, not the server's
    assert "CUDA_VISIBLE_DEVICES" not in os.environ or os.environ["CUDA_VISIBLE_DEVICES"] != "7"
    lines = log.read_text().splitlines()
    assert lines[0] == "an earlier line"
    assert len(lines) == 2 and lines[1].startswith("kopt worker: error: "), lines  # no start-up lines


def _worker_with_an_exit_handler(mark: str, *args) -> None:
    """A forked worker whose process registered an exit handler (as logging and libraries do)."""
    import atexit
    from pathlib import Path

    atexit.register(Path(mark).write_text, "ran")
    workers._forked_worker(*args)


def test_a_forked_worker_runs_its_exit_handlers_as_a_fresh_python_does(tmp_path, server):
    (tmp_path / "workers").mkdir()
    mark = tmp_path / "exit-handler"
    args = (_args(tmp_path, 0), {}, str(tmp_path / "workers" / "0.log"))
    worker = forked.start(_worker_with_an_exit_handler, (str(mark), *args), "tensorflow")
    assert worker.wait(timeout=120) == 2
    assert mark.read_text() == "ran"  # (the fork server's child ends with os._exit, which runs none)


def test_ctrl_c_while_the_fork_server_imports_tensorflow_is_no_traceback(tmp_path):
    """Ctrl-C reaches kopt tune's whole process group, the fork server too, which is still importing
    TensorFlow for the workers in the first seconds: the study ends interrupted with one line, and no
    traceback of the server's. (A fresh kopt in a group of its own, SIGINT at its default as a
    terminal's shell leaves it: a process started with SIGINT ignored, as a test process may be,
    passes that on, and Python then ignores Ctrl-C.)"""
    import signal
    import time

    from conftest import TINY, as_from_a_terminal, start_fresh_kopt

    args = ["tune", *TINY, "tuner.n_workers=2", "tuner.n_trials=2", "tuner.study_name=s", "tuner.retrain_best=false"]
    proc = start_fresh_kopt(
        *args,
        "search.model.width=choice(8, 16)",
        cwd=tmp_path,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    begun = tmp_path / "runs" / "tune" / "s" / "workers" / "parent.timeline"
    deadline = time.time() + 120
    while not begun.exists():  # written right before the first worker is asked of the server
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.02)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the group of kopt tune
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err, err
    assert "interrupted" in err, err


def test_the_fork_server_outlives_a_ctrl_c_while_it_imports_tensorflow(tmp_path, fresh_server):
    """SIGINT to the server mid-import (a terminal's Ctrl-C reaches kopt tune's group): the server
    goes on and forks the worker; kopt tune decides what a Ctrl-C ends."""
    import signal
    import threading
    import time
    from multiprocessing import forkserver

    (tmp_path / "workers").mkdir()
    args = (_args(tmp_path, 0), {}, str(tmp_path / "workers" / "0.log"))
    started: list = []
    asking = threading.Thread(target=lambda: started.append(forked.start(workers._forked_worker, args, "tensorflow")))
    asking.start()
    deadline = time.time() + 60
    while getattr(forkserver._forkserver, "_forkserver_pid", None) is None:  # spawned, now importing
        assert asking.is_alive() and time.time() < deadline, started
        time.sleep(0.01)
    time.sleep(0.3)
    os.kill(forkserver._forkserver._forkserver_pid, signal.SIGINT)
    asking.join(timeout=120)
    assert started and started[0] is not None, started
    assert started[0].wait(timeout=120) == 2  # the worker ran (no such study: its clean error)
