"""KOPT_TEST_CPU_LOG=FILE: where the suite's CPU time goes, one JSON line per test and per forked `kopt`.

`make test` is CPU-bound on 2 cores, so its wall time is its CPU time over two; what to make cheaper
is read from this log (`python benchmarks/suite_cpu.py FILE` sums it up). Each test writes a line
(:class:`TestClock`, from conftest's run-test hook) with

- ``self_s``: the CPU of the test's own process (in-process training and composing, hypothesis);
- ``fresh_s``: that of the children it waited for (fresh `kopt` processes, a `pytest` it ran, the
  servers it started and stopped);
- ``wall_s``: its wall time, fixtures' set-up included;

and the fork server writes a line per `kopt` it forked (``forked_s``, with the test that asked for it
and its command line), since those are the server's children, not the test's. Not counted: SLURM's
jobs (children of slurmd) and the PostgreSQL server. Lines from several processes go to one file,
each in one ``write`` to a file opened for appending.
"""

from __future__ import annotations

import json
import os
import resource
import time

VARIABLE = "KOPT_TEST_CPU_LOG"


def cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def append(path: str, record: dict) -> None:
    """One line, in one write (O_APPEND): lines of concurrent writers do not interleave."""
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class TestClock:
    """The CPU a test used in its process and in the children it waited for, from its start to :meth:`stop`."""

    def __init__(self, path: str):
        self.path = path
        self.wall = time.monotonic()
        self.own = cpu_s(resource.RUSAGE_SELF)
        self.children = cpu_s(resource.RUSAGE_CHILDREN)

    def stop(self, test: str) -> dict:
        record = {
            "kind": "test",
            "test": test,
            "self_s": round(cpu_s(resource.RUSAGE_SELF) - self.own, 3),
            "fresh_s": round(cpu_s(resource.RUSAGE_CHILDREN) - self.children, 3),
            "wall_s": round(time.monotonic() - self.wall, 3),
        }
        append(self.path, record)
        return record


def start(path: str | None = None) -> TestClock | None:
    """A clock for the test about to run, where KOPT_TEST_CPU_LOG names the log; else None."""
    path = path or os.environ.get(VARIABLE)
    return TestClock(path) if path else None
