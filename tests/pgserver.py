"""A throwaway PostgreSQL server: `initdb` + `pg_ctl` into a temp dir, on a free loopback port.

Used by the test fixtures (tests/pg.py) and by benchmarks/workers.py. PostgreSQL refuses to run
as root, so as root the server runs as the `postgres` user (or `nobody`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DB_USER = "kopt"


class NoServer(RuntimeError):
    """No PostgreSQL server can be started here (no binaries, or no user to run it as)."""


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_user() -> pwd.struct_passwd | None:
    """None when we are not root (run as ourselves); else an unprivileged account to run as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise NoServer("running as root and no unprivileged user (postgres, nobody) exists to run PostgreSQL")


@dataclass
class PgServer:
    bin: Path
    port: int
    root: Path
    user: pwd.struct_passwd | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *cmd: str, timeout: int = 120) -> subprocess.CompletedProcess:
        def drop_privileges():  # pragma: no cover - runs in the child
            os.setgid(self.user.pw_gid)
            os.setuid(self.user.pw_uid)

        env = {**os.environ, "LC_ALL": "C", "LANG": "C", "HOME": str(self.root)}
        return subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=self.root,
            preexec_fn=drop_privileges if self.user else None,
        )

    def _check(self, proc: subprocess.CompletedProcess, what: str) -> None:
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{tail}")

    def start(self) -> None:
        if self.user:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self._check(
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", DB_USER, "-A", "trust", "-E", "UTF8", "--no-sync"
            ),
            "initdb",
        )
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200 "
            "-c dynamic_shared_memory_type=mmap"
        )
        self._check(
            self._run(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ),
            "pg_ctl start",
        )

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, db: str) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{db}"

    def create_database(self, db: str | None = None) -> str:
        """A new, empty database (named ``db``, or a random name); its URL."""
        db = db or "kopt_" + uuid.uuid4().hex[:12]
        # the client may run as anyone: trust authentication over TCP
        proc = subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, db],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self._check(proc, f"createdb {db}")
        return self.url(db)


@contextmanager
def throwaway_server():
    """A started server, stopped and deleted on exit. NoServer where none can run here."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise NoServer(
            "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; "
            "install the `postgresql` package"
        )
    user = server_user()
    root = Path(tempfile.mkdtemp(prefix="kopt-pg-"))  # directly in /tmp: the server user must reach it
    server = PgServer(pg_bin, free_port(), root, user)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
