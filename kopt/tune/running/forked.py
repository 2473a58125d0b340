"""``tuner.n_workers=N``: the workers forked from one server that imported TensorFlow once.

A fresh Python per worker imported TensorFlow and Keras N times over: ~6 CPU s and ~600 MB each,
before its first trial. The workers are forked instead from multiprocessing's fork server, a
fresh, single-threaded process that imports them once (:mod:`kopt.tune.running.preload`, on the
study's backend) and forks a worker per request, each sharing those pages. A replacement for a
killed worker is forked from the same server. The server imports no device (a CUDA context made
before a fork is unusable after it): each worker probes its own, with its own
``CUDA_VISIBLE_DEVICES``. The server ends with the study (or when ``kopt tune`` dies: it reads a
pipe from it), and its workers get SIGTERM then (``PR_SET_PDEATHSIG``).

Where the fork server is not available (Windows) or cannot start (its socket is made under
``TMPDIR``), :func:`start` returns None and the worker starts as a fresh ``python -m
kopt.tune.running.workers``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
from contextlib import contextmanager

PRELOAD = "kopt.tune.running.preload"


class ForkedWorker:
    """A worker forked by the server, with the ``subprocess.Popen`` methods the parent uses."""

    def __init__(self, process):
        self.process = process
        self.pid = process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode  # (negative: the signal that killed it, as Popen's)

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(f"kopt worker {self.pid}", timeout)
        return self.process.exitcode

    def send_signal(self, signum: int) -> None:
        if self.process.exitcode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


@contextmanager
def _environ(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _context(backend: str):
    """The fork server's context, started on first use with Keras' backend set for its import."""
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # no fork server on this platform
        return None
    ctx.set_forkserver_preload([PRELOAD])
    from multiprocessing import forkserver

    with _environ(KERAS_BACKEND=backend):  # (the server inherits the environment when it starts)
        forkserver.ensure_running()
    return ctx


def start(target, args: tuple, backend: str) -> ForkedWorker | None:
    """Fork ``target(*args)`` (a module-level function: the child unpickles it) from the fork server
    whose Keras runs on ``backend``; None without a fork server."""
    try:
        ctx = _context(backend)
        if ctx is None:
            return None
        process = ctx.Process(target=target, args=args, name="kopt-worker", daemon=True)
        process.start()
    except OSError:  # (the server's socket could not be made, e.g. a full or read-only TMPDIR): a fresh worker
        return None
    return ForkedWorker(process)


def stop_server() -> None:
    """End the fork server once no more workers are needed (it holds TensorFlow's memory). SIGTERM
    first: a server still importing TensorFlow (a Ctrl-C in a study's first seconds) would read the
    end of kopt tune's pipe only once that import is done."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is None or not hasattr(server, "_stop"):
        return
    pid = getattr(server, "_forkserver_pid", None)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    server._stop()
