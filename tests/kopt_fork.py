"""The client of tests/forkserver.py: preloaded servers, one per pytest worker and Keras backend, started on first use.

Keras loads its backend once, at its import, and the server imports it: a request goes to the server
whose Keras runs on the backend the child would choose (:func:`keras_backend`, from the command line,
``KERAS_BACKEND`` and, for ``train resume=``, the run it resumes), and to a fresh process where that
is not plain from there. A wrong guess cannot pass unseen: kopt.backend refuses to run a backend other
than the one Keras loaded with (one `kopt: error:` line, exit 2)."""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forkserver import changed

SERVER = Path(__file__).with_name("forkserver.py")
SERVED = ("tensorflow", "jax")  # the backends a server preloads Keras on (JAX: the dev extra installs it)
# kopt.backend's names; any other is refused by kopt.backend.check before Keras loads, on any server
KNOWN = ("tensorflow", "jax", "torch")
_OVERRIDE = re.compile(r"^(?:\+{1,2}|~)?(search\.)?(trainer\.backend|resume)=(.*)$")


def _values(value: str) -> list[str]:
    """The backends an override's value names: one, a sweep's list (a,b), or a search's choice(a,b)."""
    value = value.strip()
    inner = re.fullmatch(r"\w+\((.*)\)", value)
    if inner:
        value = inner.group(1)
    value = value.strip("[]")
    return [v.strip().strip("'\"").strip() for v in value.split(",")] if value else [""]


def _resolve(name: str, env: dict) -> str:
    """kopt.backend.resolve in ``env``: ``auto`` (or nothing) is KERAS_BACKEND, else tensorflow."""
    name = name or "auto"
    return (env.get("KERAS_BACKEND", "").strip() or "tensorflow") if name == "auto" else name


def _resumed_backend(target: str, cwd: Path, env: dict) -> str | None:
    """The backend ``train resume=TARGET`` goes on with (kopt.resume.recorded_backend): the run's own
    trainer.backend, or with auto the one its summary.json recorded; None where the run is not plain."""
    import yaml

    if target.lower() in ("last", "true"):
        train = Path(cwd) / "runs" / "train"
        runs = [p for p in train.iterdir() if (p / ".hydra" / "config.yaml").is_file()] if train.is_dir() else []
        if len(runs) != 1:  # which one is the last is kopt's to say
            return None
        run = runs[0]
    else:
        run = Path(cwd) / target
    try:
        cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        named = str((cfg.get("trainer") or {}).get("backend") or "auto")
        if named != "auto":
            return named
        summary = json.loads((run / "summary.json").read_text())
        return (summary.get("versions") or {}).get("backend") or _resolve("auto", env)
    except Exception:  # a damaged or hostile run dir (tests/faults): kopt's to refuse, in a fresh process
        return None


def keras_backend(argv: list[str], cwd: Path, env: dict) -> str | None:
    """The backend `kopt ARGV` in ``cwd`` and ``env`` loads Keras on, or None where argv and env do not tell.

    ``trainer.backend`` (its last override; every job of a sweep and every trial of a study must
    agree, ``search.trainer.backend`` included), else ``KERAS_BACKEND`` (``auto``); ``train resume=``
    goes on with the run's own. A backend kopt does not know is refused before Keras loads: it is
    reported as tensorflow, the server that has no other use for it."""
    named, searched, resume = ["auto"], [], None
    for arg in argv:
        match = _OVERRIDE.match(arg)
        if not match:
            continue
        search, key, value = match.groups()
        if key == "resume" and not search:
            resume = value
        elif key == "trainer.backend":
            if search:
                searched += _values(value)
            else:
                named = _values(value)
    found = {_resolve(name, env) for name in named + searched}
    if resume not in (None, "", "none", "null", "false", "False") and argv[:1] == ["train"] and "-m" not in argv:
        if named != ["auto"] or searched:
            return None  # refused by kopt (a resumed run keeps its config): which error first is kopt's to say
        backend = _resumed_backend(resume, cwd, env)
        if backend is None and found != {"tensorflow"}:
            return None  # (on TensorFlow unless it says otherwise, as before this server had a JAX twin)
        found = {backend} if backend else found
    if len(found) != 1:
        return None
    backend = found.pop()
    # (torch: too large for CI, so often not installed; without JAX its server does not start: a fresh process)
    refused = backend not in KNOWN or (backend == "torch" and importlib.util.find_spec("torch") is None)
    return "tensorflow" if refused else backend


class ForkServer:
    def __init__(self, env: dict, backend: str = "tensorflow"):
        self.backend = backend
        self.env = {**env, "KERAS_BACKEND": backend}  # (whatever the test's own environment says)
        self.dir = tempfile.mkdtemp(prefix="kopt-fork-")
        self.path = os.path.join(self.dir, "s")
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), self.path],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.ready = self.proc.stdout.readline().split() == [b"ready", backend.encode()]
        self.held = set(json.loads(self.proc.stdout.readline() or "[]")) if self.ready else set()
        atexit.register(self.close)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def run(
        self,
        argv: list[str],
        cwd: Path,
        env: dict,
        timeout: float,
        python: list[str] | None = None,
        run_time_keys: tuple[str, ...] = (),
        umask: int | None = None,
    ) -> subprocess.CompletedProcess | None:
        """The finished `python -m kopt ARGV` (or `python PYTHON`, whose kopt arguments are ARGV), or
        None where only a fresh process would behave the same."""
        child = self.start(argv, cwd, env, python, run_time_keys=run_time_keys, umask=umask)
        if child is None:
            return None
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            stdout, stderr = child.communicate()
            raise subprocess.TimeoutExpired(child.args, timeout, output=stdout, stderr=stderr) from None
        return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)

    def start(
        self,
        argv: list[str],
        cwd: Path,
        env: dict,
        python: list[str] | None = None,
        merge_stderr: bool = False,
        run_time_keys: tuple[str, ...] = (),
        umask: int | None = None,
    ) -> Forked | None:
        """The started `python -m kopt ARGV` (or `python PYTHON`) as a Popen would hold it, or None
        where only a fresh process would behave the same. ``run_time_keys``: keys the caller knows this
        command reads at run time only, though Keras or TensorFlow read them at import too."""
        backend = keras_backend(argv, cwd, env)
        # KERAS_BACKEND is read at Keras' import: the backend it makes the child choose is that of the server
        differs = changed(self.env, env) - {"KERAS_BACKEND", *run_time_keys}
        path_first = self.path_first(env) if "PYTHONPATH" in differs else []
        if path_first:
            differs.discard("PYTHONPATH")
        why = (
            "no server"
            if not self.ready or self.proc.poll() is not None
            else "environment read at import differs: " + " ".join(sorted(differs))
            if differs
            else f"Keras on {backend or 'a backend argv and env do not tell'}, the server's on {self.backend}"
            if backend != self.backend
            else None
        )
        _log(python or argv, why)
        if why is not None:
            return None
        return Forked(self, python or ["-m", "kopt", *argv], cwd, env, merge_stderr, umask, path_first)

    def path_first(self, env: dict) -> list[str]:
        """The folders ``env``'s PYTHONPATH puts before the server's, where a fork may take them (the
        server's PYTHONPATH after them, and none holds a module the server imported or a
        ``sitecustomize``, which a fresh Python would run at start-up); [] where it may not."""
        # (an empty entry is the working folder at start-up, as the first entry of sys.path is anyway)
        ours = [p for p in self.env.get("PYTHONPATH", "").split(os.pathsep) if p]
        theirs = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        first = theirs[: len(theirs) - len(ours)]
        if not first or theirs[len(first) :] != ours:
            return []
        for folder in first:
            try:
                names = {Path(entry).name.partition(".")[0] for entry in os.listdir(folder)}
            except OSError:
                return []  # (a folder that is not there: a fresh process says what that does)
            if names & (self.held | {"sitecustomize", "usercustomize"}):
                return []
        return first


class Forked:
    """A child of the server, held as a `subprocess.Popen(..., text=True, stdout=PIPE, stderr=PIPE)`:
    pid, returncode, poll, wait, communicate, send_signal, terminate, kill. Its output is read once it
    has ended (the server writes it to files)."""

    def __init__(
        self,
        server: ForkServer,
        python: list[str],
        cwd: Path,
        env: dict,
        merge_stderr: bool = False,
        umask: int | None = None,
        path_first: list[str] | None = None,
    ):
        self.args = [sys.executable, *python]
        self.returncode: int | None = None
        self._out, self._err = (tempfile.mkstemp(dir=server.dir)[1] for _ in range(2))
        if merge_stderr:  # stderr=subprocess.STDOUT: one file; communicate() then gives (output, None)
            os.unlink(self._err)
            self._err = self._out
        request = {"python": list(python), "cwd": str(cwd), "env": env, "stdout": self._out, "stderr": self._err}
        if umask is not None:  # (else the server's, which is the test process's: what a subprocess inherits)
            request["umask"] = umask
        if path_first:
            request["path_first"] = path_first
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._conn.connect(server.path)
        self._conn.sendall(json.dumps(request).encode() + b"\n")
        self._buffer = b""
        self.pid = int(self._line(None))
        self._output: tuple[str, str] | None = None

    def _line(self, timeout: float | None) -> bytes | None:
        """The server's next line, or None if none came within ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._conn], [], [], left)[0]:
                return None
            chunk = self._conn.recv(64)
            if not chunk:
                raise RuntimeError("the fork server ended before its child")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def poll(self) -> int | None:
        return self.wait(0) if self.returncode is None and self._line_ready() else self.returncode

    def _line_ready(self) -> bool:
        return b"\n" in self._buffer or bool(select.select([self._conn], [], [], 0)[0])

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            line = self._line(timeout)
            if line is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = int(line)
            self._conn.close()
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str | None]:
        self.wait(timeout)
        if self._output is None:
            out = Path(self._out).read_text(errors="replace")
            err = None if self._err == self._out else Path(self._err).read_text(errors="replace")
            self._output = (out, err)
            for path in {self._out, self._err}:
                os.unlink(path)
        return self._output

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:  # it ended meanwhile, as Popen.send_signal allows
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """The child and whatever it started (its own process group), as a timeout's kill."""
        if self.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:  # not yet its own group's leader, or it ended meanwhile
                self.send_signal(signal.SIGKILL)


def _log(argv: list[str], why: str | None) -> None:
    """KOPT_TEST_FORK_LOG=FILE: one line per run, forked or fresh and why (to see what the server saves)."""
    path = os.environ.get("KOPT_TEST_FORK_LOG")
    if path:
        with open(path, "a") as f:
            line = " ".join(argv)[:80].replace("\n", " ")
            f.write(f"{why or 'forked'}\t{os.environ.get('PYTEST_CURRENT_TEST', '')}\t{line}\n")


_servers: dict[str, ForkServer] = {}
ENABLED = os.environ.get("KOPT_TEST_FORK", "1") != "0"


def server(env: dict, backend: str = "tensorflow") -> ForkServer | None:
    """This worker's server for Keras on ``backend`` (started with ``env``), or None (KOPT_TEST_FORK=0)."""
    if not ENABLED:
        return None
    if backend not in _servers:
        _servers[backend] = ForkServer(env, backend)
    return _servers[backend]


def _server_for(python: list[str], cwd: Path, env: dict, server_env: dict) -> tuple[ForkServer | None, list[str]]:
    """The server of the Keras backend `python PYTHON` would choose, and the kopt arguments it was chosen by."""
    argv = list(python[2:] if python[0] in ("-m", "-c") else python[1:])
    backend = keras_backend(argv, cwd, env)
    if backend not in SERVED:
        _log(python, f"Keras on {backend or 'a backend argv and env do not tell'}")
        return None, argv
    return server(server_env, backend), argv


def run(
    python: list[str],
    cwd: Path,
    env: dict,
    timeout: float,
    server_env: dict,
    run_time_keys: tuple[str, ...] = (),
    umask: int | None = None,
) -> subprocess.CompletedProcess | None:
    """The finished `python PYTHON` (``-m kopt ARGS``, ``-c CODE ARGS``, ``SCRIPT ARGS``), forked from
    the server of its Keras backend; None where only a fresh process would behave the same.
    ``umask``: the child's (as a subprocess's ``preexec_fn=lambda: os.umask(umask)``)."""
    chosen, argv = _server_for(python, cwd, env, server_env)
    return chosen.run(argv, cwd, env, timeout, python, run_time_keys, umask) if chosen else None


def start(python: list[str], cwd: Path, env: dict, server_env: dict, merge_stderr: bool = False) -> Forked | None:
    """`python PYTHON` started, forked as :func:`run` does (a Popen's methods); None where only a fresh process would do."""
    chosen, argv = _server_for(python, cwd, env, server_env)
    return chosen.start(argv, cwd, env, python, merge_stderr) if chosen else None
