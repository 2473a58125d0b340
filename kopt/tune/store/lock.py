"""The lock kopt takes to write a study's journal: Optuna's own, and a record that ends a dead kopt's at once.

Optuna's JournalFileBackend appends under JournalFileSymlinkLock: a symlink ``journal.log.lock``,
made by one system call, which NFS honours too. A process killed while it holds it (SIGKILL, the
OOM killer, a SLURM time limit) leaves the symlink behind, and the next writer waits Optuna's grace
period, 30 s, before it removes it; kopt keeps Optuna's logging quiet, so that wait said nothing.

kopt's writers take the very same symlink, so Optuna's own tools (the ``optuna`` CLI, the
dashboard) and kopt still exclude each other. Each takes it inside an exclusive ``flock`` of
``journal.log.holder``, which the kernel drops with the process, and writes there which symlink
it made (its inode and time). A kopt writer that holds the flock and finds a symlink recorded
there knows that its maker is gone: it died inside the lock, which it never left. That symlink is
removed at once. A symlink without a record (made by another tool, or an older kopt) is waited
for as Optuna waits. Where the file system has no flock, Optuna's lock is all there is.
"""

from __future__ import annotations

import fcntl
import logging
import os

from optuna.storages.journal import JournalFileSymlinkLock

HOLDER_SUFFIX = ".holder"
_log = logging.getLogger(__name__)


class StudyJournalLock:
    """Optuna's symlink lock of ``journal`` (``journal.log.lock``), taken under an flock of
    ``journal.log.holder`` that records it; ``grace_period`` as Optuna's, for locks of other tools.
    JournalFileBackend's ``lock_obj`` (it calls acquire and release; Optuna keeps their base class private)."""

    def __init__(self, journal: str, grace_period: int | None = 30) -> None:
        self._symlink = JournalFileSymlinkLock(journal, grace_period)
        self._lock_file = journal + ".lock"  # (Optuna's name: optuna.storages.journal._file.LOCK_FILE_SUFFIX)
        self._holder = journal + HOLDER_SUFFIX
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = self._hold()
        try:
            if fd is not None:
                self._end_dead_holders(fd)
            self._symlink.acquire()
        except BaseException:
            self._let_go(fd)
            raise
        if fd is not None:
            made = os.lstat(self._lock_file)
            record = f"{os.getpid()} {made.st_ino} {made.st_mtime_ns}\n".encode()
            os.pwrite(fd, record, 0)
            os.ftruncate(fd, len(record))
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        try:
            self._symlink.release()
        finally:
            if fd is not None:
                os.ftruncate(fd, 0)  # (before the flock goes: no later holder reads a record of a lock released)
            self._let_go(fd)

    def _hold(self) -> int | None:
        """The holder file's descriptor, flocked (blocks while another kopt writer is inside);
        None where it cannot be opened or locked (a read-only folder, a file system without flock)."""
        try:
            fd = os.open(self._holder, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)  # (the umask applies)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            return None
        return fd

    def _end_dead_holders(self, fd: int) -> None:
        """Remove the symlink the holder file records: its maker ended without releasing it."""
        record = os.pread(fd, 128, 0).split()
        if len(record) != 3:
            return
        pid, ino, mtime_ns = record
        try:
            now = os.lstat(self._lock_file)
            if (now.st_ino, now.st_mtime_ns) == (int(ino), int(mtime_ns)):
                os.unlink(self._lock_file)
                _log.warning(
                    "removed %s, left by kopt process %s, which ended while it held it", self._lock_file, pid.decode()
                )
        except (OSError, ValueError):  # gone already, or another tool's lock since: waited for as Optuna waits
            pass
        os.ftruncate(fd, 0)

    @staticmethod
    def _let_go(fd: int | None) -> None:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
