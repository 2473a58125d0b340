"""The client of tests/forkserver.py: one preloaded server per pytest worker, started on first use."""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from forkserver import changed, forkable

SERVER = Path(__file__).with_name("forkserver.py")


class ForkServer:
    def __init__(self, env: dict):
        self.env = dict(env)
        self.dir = tempfile.mkdtemp(prefix="kopt-fork-")
        self.path = os.path.join(self.dir, "s")
        self.lock = threading.Lock()  # one run at a time; a second concurrent run gets a real subprocess
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), self.path],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.ready = self.proc.stdout.readline().strip() == b"ready"
        atexit.register(self.close)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def run(self, argv: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess | None:
        """The finished `python -m kopt ARGV`, or None where only a fresh process would behave the same."""
        why = (
            "no server"
            if not self.ready or self.proc.poll() is not None
            else "environment read at import differs: " + " ".join(sorted(changed(self.env, env)))
            if not forkable(self.env, env)
            else "another Keras backend"  # the server's Keras runs on TensorFlow
            if any(re.search(r"backend=(?!tensorflow$|auto$)", a) for a in argv)
            else "busy"
            if not self.lock.acquire(blocking=False)
            else None
        )
        _log(argv, why)
        if why is not None:
            return None
        try:
            return self._run(argv, cwd, env, timeout)
        finally:
            self.lock.release()

    def _run(self, argv, cwd, env, timeout):
        out = tempfile.NamedTemporaryFile(dir=self.dir, delete=False)
        err = tempfile.NamedTemporaryFile(dir=self.dir, delete=False)
        out.close()
        err.close()
        request = {"argv": list(argv), "cwd": str(cwd), "env": env, "stdout": out.name, "stderr": err.name}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(self.path)
            stream = conn.makefile("rwb")
            stream.write(json.dumps(request).encode() + b"\n")
            stream.flush()
            pid = int(stream.readline())
            conn.settimeout(timeout)
            timed_out = False
            try:
                line = stream.readline()
            except TimeoutError:  # the stream refuses reads once timed out: its buffer is empty, read the socket
                timed_out = True
                os.killpg(pid, signal.SIGKILL)
                conn.settimeout(None)
                line = b""
                while not line.endswith(b"\n"):
                    line += conn.recv(64) or b"\n"
            code = int(line)
        cmd = [sys.executable, "-m", "kopt", *argv]
        stdout, stderr = (Path(p).read_text(errors="replace") for p in (out.name, err.name))
        os.unlink(out.name)
        os.unlink(err.name)
        if timed_out:
            raise subprocess.TimeoutExpired(cmd, timeout, output=stdout, stderr=stderr)
        return subprocess.CompletedProcess(cmd, code, stdout, stderr)


def _log(argv: list[str], why: str | None) -> None:
    """KOPT_TEST_FORK_LOG=FILE: one line per run, forked or fresh and why (to see what the server saves)."""
    path = os.environ.get("KOPT_TEST_FORK_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{why or 'forked'}\t{os.environ.get('PYTEST_CURRENT_TEST', '')}\t{' '.join(argv)[:80]}\n")


_server: ForkServer | None = None
ENABLED = os.environ.get("KOPT_TEST_FORK", "1") != "0"


def server(env: dict) -> ForkServer | None:
    global _server
    if not ENABLED:
        return None
    if _server is None:
        _server = ForkServer(env)
    return _server
