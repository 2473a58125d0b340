"""``study.html`` in the study dir, so that a browser refresh shows the study's progress.

After a trial, :meth:`StudyPage.refresh` starts ``python -m kopt report <study_dir> --html
<study_dir>/study.html`` in the background (the page of kopt.report.html, written atomically), at
most every :data:`INTERVAL_S` seconds, the first INTERVAL_S after the study started, and never two
at once: the trials never wait for it. A study that ends sooner gets its page once, at its end
(a refresh costs about 3 CPU seconds, a tenth of such a study, for a page rewritten moments later). When the
study ends, :meth:`StudyPage.write` writes it once more, in this process (no second start-up). A page that cannot be
written costs the study nothing (its output goes nowhere; kopt report --html says why; the final write warns).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

STUDY_HTML = "study.html"
INTERVAL_S = 30.0  # the least time between two background refreshes
STOP_TIMEOUT_S = 10.0  # a background refresh stopped at the end: then killed


class StudyPage:
    def __init__(self, study_dir: Path):
        self.study_dir = Path(study_dir)
        self.proc: subprocess.Popen | None = None
        self.started = time.monotonic()  # (the study's start: no refresh in its first INTERVAL_S)

    @property
    def path(self) -> Path:
        return self.study_dir / STUDY_HTML

    def command(self) -> list[str]:
        return [sys.executable, "-m", "kopt", "report", str(self.study_dir), "--html", str(self.path)]

    def _start(self) -> subprocess.Popen | None:
        try:
            return subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_lowest_priority,
            )
        except OSError:
            return None

    def busy(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def refresh(self) -> bool:
        """Start a background refresh unless one runs, or one started (or the study did) less than
        INTERVAL_S ago."""
        if self.busy() or time.monotonic() - self.started < INTERVAL_S:
            return False
        self.started = time.monotonic()
        self.proc = self._start()
        return self.proc is not None

    def write(self) -> None:
        """Once the study has ended: the page with every trial, written in this process, which has
        everything the page needs loaded already (a new process took seconds to start). A
        background refresh still running is stopped first: its page (of the study before its end)
        would be overwritten anyway, and at the lowest priority it may wait long for CPU time
        (kopt's SIGTERM handler removes its temporary file; one left by a kill is removed here)."""
        if self.busy():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for tmp in self.study_dir.glob(f".{STUDY_HTML}.*.tmp"):
                tmp.unlink(missing_ok=True)
        try:
            write_study_html(self.study_dir, self.path)
        except Exception as exc:  # the study's results never depend on its page
            print(f"kopt: warning: {self.path}: not written ({type(exc).__name__}: {exc})", file=sys.stderr)


def _lowest_priority() -> None:
    """The page refresh (about 3 CPU seconds: a Python process that imports Optuna and Matplotlib)
    takes only CPU time the trials leave: nice 19, and, in its own session, its autogroup's nice
    too (Linux's autogroup scheduling shares the CPU between sessions before niceness counts)."""
    try:
        os.nice(19)
    except OSError:
        pass
    try:
        with open("/proc/self/autogroup", "w") as fh:
            fh.write("19")
    except OSError:
        pass


def write_study_html(study_dir: Path, out: Path) -> None:
    """What ``kopt report <study_dir> --html <out>`` writes (kopt.report.html, atomically)."""
    from kopt.report.collect import collect
    from kopt.report.html import write_html
    from kopt.tune.store.storage import open_study_readonly

    write_html([study_dir], out, collect([study_dir]), None, open_study_readonly)
