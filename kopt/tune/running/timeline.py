"""``workers/<i>.timeline``: where a worker process's time goes, one JSON object a line.

Each line has ``event``, ``t`` (wall clock, epoch seconds) and ``cpu`` (this process's CPU seconds
so far, every thread): the wall times say when, the CPU times what the process itself did, so that
a worker slowed by other jobs on the machine (CPU it waited for) can be told from one slowed by
kopt. Events: ``start`` (the worker's code runs; ``proc_start`` is when its process was created,
so the difference is Python's start-up and imports; ``pid``, ``sid``, ``threads``, ``gpu``: its
process, session, TensorFlow threads and CUDA_VISIBLE_DEVICES), ``joined`` (the study is loaded from its
storage), ``tensorflow`` (TensorFlow imported and set up), one ``trial`` per claimed trial
(``wait_s``: waiting for the claim lock, ``held_s``: inside it, ``setup_s``: claim to training,
``run_s`` and ``run_cpu_s``: the training, ``finish_s``: recording its outcome), ``done`` (the last
claim, which found nothing left to do) and ``exit``. The parent ``kopt tune`` writes
``workers/parent.timeline``: ``begin`` (its ``pid`` and ``sid``), a ``spawn`` per worker and a ``watch`` with its polls' count and cost.
Writing them costs a few lines per trial.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def process_start_time() -> float | None:
    """When this process was created (epoch seconds), on Linux; else None."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime, in clock ticks since boot
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return None


class Timeline:
    """Appends events to ``path``; with ``path`` None it records nothing. A file that cannot be
    written costs the worker nothing."""

    def __init__(self, path: Path | None):
        self.path = None if path is None else Path(path)

    def mark(self, event: str, **fields) -> None:
        if self.path is None:
            return
        line = {"event": event, "t": round(time.time(), 4), "cpu": round(time.process_time(), 4), **fields}
        try:
            with open(self.path, "a") as fh:
                fh.write(json.dumps(line) + "\n")
        except OSError:
            self.path = None


def read_timeline(path: Path) -> list[dict]:
    events = []
    try:
        for line in Path(path).read_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    except OSError:
        pass
    return events
