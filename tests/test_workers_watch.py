"""The parent of ``tuner.n_workers`` workers: what it does while it watches them, and the
processes it starts (workers, the study.html refresh) as the kernel's scheduler sees them."""

from __future__ import annotations

import os
import sys

from kopt.tune.results import page as page_mod
from kopt.tune.results import report
from kopt.tune.running import workers


class FakeProc:
    def __init__(self, polls: int):
        self.left = polls
        self.returncode = None

    def poll(self):
        self.left -= 1
        if self.left <= 0:
            self.returncode = 0
        return self.returncode


class FakeUI:
    def __init__(self):
        self.refreshed = 0

    def refresh_rows(self, rows):
        self.refreshed += 1


def test_the_parent_rewrites_the_reports_only_when_a_trial_ended(monkeypatch):
    # 8 polls: trial 0 runs from the first, trial 1 starts at the third, trial 0 ends at the fifth
    script = [["RUNNING"]] * 2 + [["RUNNING", "RUNNING"]] * 2 + [["COMPLETE", "RUNNING"]] * 4
    polls = iter(script)
    monkeypatch.setattr(
        report, "trial_rows", lambda study: [{"number": i, "state": s} for i, s in enumerate(next(polls))]
    )
    ui, written = FakeUI(), []
    workers._watch({0: FakeProc(len(script))}, None, ui, lambda: written.append(1), poll_s=0)
    # the display when a trial started or ended (3 times); trials.csv, summary.json and the
    # study.html refresh when a trial ended (once) and at the end (once), not on all 8 polls
    assert ui.refreshed == 3
    assert len(written) == 2


def test_a_fresh_worker_runs_in_a_session_of_its_own(tmp_path, monkeypatch):
    # Linux's autogroup scheduling shares the CPU between sessions first: two workers in kopt
    # tune's session got one core of two together beside one busy process of another session.
    # (A fresh worker: where the fork server cannot start, here its socket. test_tune_cli checks the forked ones.)
    from multiprocessing import forkserver

    def no_socket():
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(forkserver, "ensure_running", no_socket)
    proc = workers.spawn(str(tmp_path / "none.log"), "s", tmp_path, 0, 1, 0.0)
    try:
        assert os.getsid(proc.pid) == proc.pid != os.getsid(0)
    finally:
        proc.kill()
        proc.wait()


def test_the_background_page_refresh_runs_at_the_lowest_priority(tmp_path, monkeypatch):
    out = tmp_path / "seen.txt"
    code = (
        "import os, pathlib; "
        f"pathlib.Path({str(out)!r}).write_text(f'{{os.nice(0)}} {{os.getsid(0)}} ' + "
        "(open('/proc/self/autogroup').read().split()[-1] if os.path.exists('/proc/self/autogroup') else '19'))"
    )
    monkeypatch.setattr(page_mod.StudyPage, "command", lambda self: [sys.executable, "-c", code])
    page = page_mod.StudyPage(tmp_path)
    page.started -= page_mod.INTERVAL_S  # a study past its first 30 s
    assert page.refresh()
    page.proc.wait(timeout=60)
    nice, sid, group_nice = out.read_text().split()
    assert int(nice) == 19  # niceness: against the trials of its own session
    assert int(sid) != os.getsid(0) and int(group_nice) == 19  # and its session against theirs
