"""Is the process that wrote a run dir or started a trial still alive? (Linux /proc; no TensorFlow.)"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. under taskset or SLURM)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_memory() -> int:
    """Bytes of memory this process can still get: MemAvailable, within its cgroup's limit."""
    available = 8 << 30  # not Linux: a guess that refuses only the absurd
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(available, 0)


def _proc_start(pid: int) -> tuple[str, float] | None:
    """(state, start time as a UNIX timestamp) of a process from /proc, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_alive(pid: int | None, since: dt.datetime | None) -> bool:
    """Is the process that started a trial (at ``since``) still running?"""
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    info = _proc_start(pid)
    if info is None:
        return True
    state, started = info
    if state == "Z":
        return False
    return since is None or started <= since.timestamp() + 1.0  # a later process reuses the pid
