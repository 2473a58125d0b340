"""The study journal's lock (kopt.tune.store.lock): a kopt killed while it holds it costs the next writer
no wait, and a live holder, kopt or another tool, is still waited for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import TINY, kopt_env, run_kopt
from optuna.storages.journal import JournalFileSymlinkLock

from kopt.tune.store.lock import StudyJournalLock


def _holder(journal: Path, code: str) -> subprocess.Popen:
    """A process that takes a lock of ``journal`` (``code`` sets ``lock``), says so, then waits for a line."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from optuna.storages.journal import JournalFileSymlinkLock
        from kopt.tune.store.lock import StudyJournalLock
        journal = {str(journal)!r}
        {code}
        lock.acquire()
        print("held", flush=True)
        if sys.stdin.readline().strip() == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        lock.release()
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=kopt_env()
    )


def _killed_holding(journal: Path) -> None:
    holder = _holder(journal, "lock = StudyJournalLock(journal)")
    assert holder.stdout.readline() == "held\n"
    holder.communicate("die\n")
    assert holder.returncode == -9
    assert (journal.parent / "journal.log.lock").is_symlink()  # left behind, as a SIGKILL leaves it


def test_the_lock_of_a_kopt_killed_while_holding_it_is_taken_without_waiting(tmp_path, monkeypatch):
    journal = tmp_path / "journal.log"
    journal.touch()
    _killed_holding(journal)

    def no_wait(seconds):  # Optuna's lock sleeps while the symlink stands, for its grace period
        raise AssertionError(f"waited ({seconds} s) for the lock of a process that is gone")

    monkeypatch.setattr(time, "sleep", no_wait)
    lock = StudyJournalLock(str(journal), grace_period=3600)
    assert lock.acquire()
    monkeypatch.undo()
    assert (tmp_path / "journal.log.lock").is_symlink()
    assert (tmp_path / "journal.log.holder").read_text().split()[0] != ""  # this process's record
    lock.release()
    assert not (tmp_path / "journal.log.lock").exists()
    assert (tmp_path / "journal.log.holder").read_bytes() == b""


@pytest.mark.parametrize("kind", ["kopt", "optuna"])
def test_a_live_holder_is_waited_for_not_removed(tmp_path, kind):
    """A kopt holder is waited for on the flock, another tool's (the optuna CLI's) on the symlink;
    either releases it itself (Optuna's release raises if the symlink was taken from it)."""
    journal = tmp_path / "journal.log"
    journal.touch()
    code = "lock = StudyJournalLock(journal)" if kind == "kopt" else "lock = JournalFileSymlinkLock(journal)"
    holder = _holder(journal, code)
    assert holder.stdout.readline() == "held\n"
    made = (tmp_path / "journal.log.lock").lstat()
    lock = StudyJournalLock(str(journal), grace_period=3600)
    taken = threading.Event()
    waiter = threading.Thread(target=lambda: lock.acquire() and taken.set(), daemon=True)
    waiter.start()
    time.sleep(0.5)  # (long enough for a waiter that wrongly removes the lock to have done it)
    assert not taken.is_set()
    assert (tmp_path / "journal.log.lock").lstat().st_ino == made.st_ino
    holder.communicate("\n")
    assert holder.returncode == 0, "the holder's lock was taken from it"
    waiter.join(30)
    assert taken.is_set()
    lock.release()


def test_an_optuna_tool_waits_for_kopts_lock_and_then_takes_it(tmp_path):
    """kopt's symlink is Optuna's own: the optuna CLI's lock is excluded by it and takes it once released."""
    journal = tmp_path / "journal.log"
    journal.touch()
    kopt_lock = StudyJournalLock(str(journal))
    kopt_lock.acquire()
    other = JournalFileSymlinkLock(str(journal))
    taken = threading.Event()
    waiter = threading.Thread(target=lambda: other.acquire() and taken.set(), daemon=True)
    waiter.start()
    time.sleep(0.3)
    assert not taken.is_set()
    kopt_lock.release()
    waiter.join(30)
    assert taken.is_set()
    other.release()


def test_a_tune_after_a_kopt_killed_inside_the_journal_lock_goes_on_at_once(tmp_path):
    """As a user meets it: a `kopt tune` SIGKILLed while it appended left journal.log.lock; the rerun
    removes it at once, where Optuna would wait 30 s, then log that it forcibly released it."""
    args = ["tune", *TINY, "trainer.epochs=1", "tuner=random", "pruner=none", "search.model.width=choice(8, 16)"]
    args += ["tuner.retrain_best=false", "tuner.plots=false", "tuner.study_name=s", "tuner.n_trials=1"]
    first = run_kopt(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    study = tmp_path / "runs" / "tune" / "s"
    _killed_holding(study / "journal.log")
    again = run_kopt(*args[:-1], "tuner.n_trials=2", cwd=tmp_path, timeout=25)  # (Optuna's grace: 30 s)
    assert again.returncode == 0, again.stderr
    assert not (study / "journal.log.lock").exists()
    logs = "".join(p.read_text(errors="replace") for p in study.rglob("*.log") if p.name != "journal.log")
    assert "Forcibly releasing" not in logs
    assert len(list((study / "trials").iterdir())) == 2
