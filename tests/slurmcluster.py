"""A throwaway single-node SLURM cluster: munged, slurmctld and slurmd with a generated config in a
temp dir, on free loopback ports.

Used by the test fixture `slurm_cluster` (tests/test_slurm.py). Debian's `slurm-wlm` and `munge`
packages; run as root (SlurmUser=root, jobs run as the submitting user). munged runs as the
`munge` user with /etc/munge/munge.key (generated when missing), on its own socket here, so a
system munged, if any, is left alone. Clients (sbatch, sinfo, submitit) find the cluster through
the ``SLURM_CONF`` environment variable: :meth:`SlurmCluster.env`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MUNGE_KEY = Path("/etc/munge/munge.key")
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel")


class NoCluster(RuntimeError):
    """No SLURM cluster can be started here (no binaries, not root, no munge user)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 1024


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def check_can_run() -> pwd.struct_passwd:
    """The munge user; NoCluster with the reason when a cluster cannot run here."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        raise NoCluster(f"no {', '.join(missing)} on PATH; install the `slurm-wlm` and `munge` packages")
    if os.geteuid() != 0:
        raise NoCluster("the throwaway SLURM cluster runs as root (SlurmUser=root)")
    try:
        return pwd.getpwnam("munge")
    except KeyError:
        raise NoCluster("no `munge` user to run munged as; install the `munge` package") from None


@dataclass
class SlurmCluster:
    root: Path
    munge_user: pwd.struct_passwd
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    cpus: int = field(default_factory=_cpus)
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def env(self) -> dict[str, str]:
        """The environment for SLURM clients (sbatch, sinfo, submitit) to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *cmd: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env())
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.logs()}")
        return proc

    def logs(self) -> str:
        out = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            path = self.root / name
            if path.exists():
                out.append(f"--- {name}\n{path.read_text()[-1500:]}")
        return "\n".join(out)

    def write_conf(self) -> None:
        r = self.root
        for sub in ("state", "spool"):
            (r / sub).mkdir()
        memory = max(256, int(_mem_mb() * 0.9))
        self.conf.write_text(f"""\
ClusterName=kopttest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "slurmctld.pid"}
SlurmdPidFile={r / "slurmd.pid"}
SlurmctldLogFile={r / "slurmctld.log"}
SlurmdLogFile={r / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")

    def _start(self, *cmd: str, user: pwd.struct_passwd | None = None) -> subprocess.Popen:
        def drop_privileges():  # pragma: no cover - runs in the child
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env(),
            cwd=self.root,
            start_new_session=True,
            preexec_fn=drop_privileges if user else None,
        )
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 60) -> None:
        u = self.munge_user
        if not MUNGE_KEY.exists():
            subprocess.run(["mungekey", "--create", "--keyfile", str(MUNGE_KEY)], check=True, capture_output=True)
            os.chown(MUNGE_KEY, u.pw_uid, u.pw_gid)
            os.chmod(MUNGE_KEY, 0o600)
        mdir = self.munge_socket.parent
        mdir.mkdir(mode=0o755)
        os.chown(mdir, u.pw_uid, u.pw_gid)
        self._start(
            "munged",
            "-F",
            "--force",
            f"--socket={self.munge_socket}",
            f"--key-file={MUNGE_KEY}",
            f"--pid-file={mdir / 'munged.pid'}",
            f"--log-file={self.root / 'munged.log'}",
            f"--seed-file={mdir / 'munged.seed'}",
            user=u,
        )
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged did not create its socket")
        self.write_conf()
        self._start("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._start("slurmd", "-D", "-f", str(self.conf), "-N", self.node)
        self._wait(self.idle, timeout, "the node did not become idle")

    def idle(self) -> bool:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[0]} exited ({p.returncode}):\n{self.logs()}")
        proc = self.run("sinfo", "-h", "-N", "-o", "%t", check=False, timeout=20)
        return proc.returncode == 0 and proc.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} within {timeout:.0f} s:\n{self.logs()}")
            time.sleep(0.5)

    def wait_jobs(self, timeout: float = 300) -> None:
        """Until the queue is empty."""
        self._wait(lambda: not self.run("squeue", "-h", "-o", "%i").stdout.strip(), timeout, "jobs still queued")

    def stop(self) -> None:
        """Stop what this cluster started, by PID (slurmd first, munged last); any job left is killed
        with it (its process group)."""
        self.run("scancel", "--full", "--signal=KILL", "-u", pwd.getpwuid(os.geteuid()).pw_name, check=False)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


@contextmanager
def throwaway_cluster():
    """A started cluster (node idle), stopped and deleted on exit. NoCluster where none can run here."""
    munge_user = check_can_run()
    root = Path(tempfile.mkdtemp(prefix="kopt-slurm-"))
    os.chmod(root, 0o755)  # the munge user reaches its socket folder inside
    cluster = SlurmCluster(root, munge_user)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
