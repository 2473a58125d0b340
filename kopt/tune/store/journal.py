"""A study's journal file (``journal.log``): repair a torn tail before Optuna opens it.

Optuna's JournalFileBackend appends one JSON object per line. A write cut short (a full disk,
a killed process, a power loss) leaves a last line without its newline: Optuna skips it when
reading but appends the next record right after it, so the file then holds a bad line in the
middle and every later reader fails with JSONDecodeError. Before a journal is opened, kopt cuts
such a tail off (after a backup copy, under the journal's own lock) and says so in one line.
A bad line in the middle is refused with one line naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from kopt.errors import KoptError


def _backup(path: Path) -> Path:
    """A copy of the journal as it is now (an earlier copy of the very same bytes is reused)."""
    data = path.read_bytes()
    for old in sorted(path.parent.glob(f"{path.name}.*.bak")):
        if old.stat().st_size == len(data) and old.read_bytes() == data:
            return old
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    n = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}-{n}.bak")
        n += 1
    shutil.copy2(path, backup)
    return backup


def _first_bad_line(path: Path, end: int) -> int | None:
    """The 1-based number of the first line before byte ``end`` that is not a JSON object."""
    with open(path, "rb") as fh:
        offset = 0
        for number, line in enumerate(fh, start=1):
            offset += len(line)
            if offset > end:
                return None
            try:
                json.loads(line)
            except ValueError:
                return number
    return None


def _scan(path: Path) -> tuple[int, int, int | None]:
    """(size, end of the last complete line, the first bad complete line or None)."""
    with open(path, "rb") as fh:
        data = fh.read()
    end = data.rfind(b"\n") + 1
    return len(data), end, _first_bad_line(path, end)


def check_journal(path: Path) -> str | None:
    """Repair a torn last line of the journal at ``path`` (no-op when it is whole or absent);
    returns the line that was printed, or None. Raises KoptError for a bad line in the middle.
    The lock is only taken when the tail looks torn (a writer may be mid-append): a whole journal
    in a read-only folder can still be read."""
    from kopt.tune.store.lock import StudyJournalLock

    path = Path(path)
    if not path.is_file():
        return None
    size, end, bad = _scan(path)
    if bad is None and size == end:
        return None
    lock = StudyJournalLock(str(path))  # the lock kopt's JournalFileBackend takes to append (Optuna's own inside)
    lock.acquire()
    try:
        size, end, bad = _scan(path)
        if bad is not None:
            backup = _backup(path)
            raise KoptError(
                f"{path}: line {bad} is not a valid journal record (a damaged study storage); "
                f"a copy is at {backup.name}. Remove the lines from {bad} on to keep the trials "
                "before it, or start a new study with another tuner.study_name"
            )
        if size == end:
            return None
        backup = _backup(path)
        with open(path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        lock.release()
    message = (
        f"kopt: {path} ended in a torn record ({size - end} bytes from an interrupted write); cut it off, "
        f"the file as it was is at {backup.name}"
    )
    print(message, file=sys.stderr, flush=True)
    return message
