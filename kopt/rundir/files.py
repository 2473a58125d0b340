"""Run-dir files on disk: their names, atomic writes (temporary file in the same folder, then
rename, keeping the umask), metrics.jsonl, and the writability probe. See kopt/rundir/__init__.py
for the layout of a run dir.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy loads with the first array, not with this module
    import numpy as np


SUMMARY = "summary.json"
STUDY_OWNER = "study.json"  # a study dir's owner record: its name and storage (kopt.tune.planning.owner)
METRICS = "metrics.jsonl"
PREDICTIONS = "predictions.npz"
SPLITS = "splits.npz"


def _umask() -> int:
    """The process's umask, read without changing it (os.umask can only set it, racing other threads)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: Path, write, mode: str = "w", sync: bool = True) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600; a plain open() would honour the umask
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, sync: bool = True) -> None:
    """``text`` to ``path`` atomically; ``sync=False`` for a file rebuilt often from elsewhere (no fsync)."""
    _atomic(path, lambda fh: fh.write(text), sync=sync)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    np = sys.modules.get("numpy")  # (not imported for the --cfg/--help paths: then no value is numpy's)
    if np is not None and isinstance(value, np.generic):
        return value.item()
    if np is not None and isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None  # JSON has no NaN/inf
    return value


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(_jsonable(data), indent=2) + "\n")


def atomic_savez(path: Path, compressed: bool = True, **arrays: np.ndarray) -> None:
    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    _atomic(path, lambda fh: fh.write(buf.getvalue()), mode="wb")


def atomic_save_model(model, path: Path) -> None:
    """Save an inference-only Keras model atomically (Keras needs the .keras suffix on the temporary
    name too). Keras 3 ignores ``include_optimizer`` for .keras files and saves the optimizer of a
    compiled model, so only an uncompiled model (no optimizer state) is accepted."""
    if getattr(model, "optimizer", None) is not None:
        raise ValueError(f"{model.name}: save an uncompiled inference copy, not the training model")
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_writable(path: Path) -> None:
    """Raise KoptError unless a file can be written where ``path`` is (or would be created).

    A small probe file is written and fsynced in the nearest existing folder, so a read-only
    folder and a full disk are both caught before any training starts.
    """
    from kopt.errors import KoptError

    path = Path(path).absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise KoptError(f"cannot write the run dir {path}: {existing} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".kopt-probe.", dir=existing)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"\0" * 4096)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            os.unlink(probe)
    except OSError as exc:
        raise KoptError(
            f"cannot write the run dir {path}: {existing} is not writable ({exc.strerror}); "
            "make it writable or free some space"
        ) from None


def read_json(path: Path) -> Any:
    """JSON from a regular file (kopt.runfiles.read_json: never blocks; BadFile is a ValueError)."""
    from kopt.runfiles import read_json as safe_read_json

    return safe_read_json(path)


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of metrics.jsonl; a damaged line (a torn write, a hand edit) is left out."""
    from kopt.runfiles import BadFile, read_text

    try:
        text = read_text(Path(run_dir) / METRICS, root=run_dir)
    except (FileNotFoundError, BadFile):
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line) if line.strip() else None
        except (ValueError, RecursionError):
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


class MetricsWriter:
    """Keeps ``metrics.jsonl`` whole on disk: each append rewrites it atomically (it is small).

    Rows stay in (fold, epoch) order: a fold trained again after a later one (its result was set
    aside on resume) puts its rows back where they belong."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lines = self.path.read_text().splitlines() if self.path.exists() else []

    @staticmethod
    def _key(line: str) -> tuple[int, int] | None:
        try:
            row = json.loads(line)
            return int(row["fold"]), int(row["epoch"])
        except (ValueError, KeyError, TypeError):
            return None

    def drop(self, predicate) -> None:
        """Forget the rows ``predicate(row)`` is true for (epochs a resumed run trains again)."""

        def drop_line(line: str) -> bool:
            try:
                return predicate(json.loads(line))
            except ValueError:  # a hand-damaged line: nothing to keep
                return True

        kept = [line for line in self.lines if not drop_line(line)]
        if kept != self.lines:
            self.lines = kept
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def append(self, row: dict) -> None:
        key = (row.get("fold"), row.get("epoch"))
        at = len(self.lines)
        while (
            all(isinstance(k, int) for k in key)
            and at
            and (before := self._key(self.lines[at - 1])) is not None
            and before > key
        ):
            at -= 1
        self.lines.insert(at, json.dumps(_jsonable(row)))
        atomic_write_text(self.path, "\n".join(self.lines) + "\n")

    def restore(self, rows: list[dict]) -> int:
        """Put back those of ``rows`` (a checkpoint's record) that are missing here, e.g. lost to a
        torn or damaged line; returns how many."""
        have = {self._key(line) for line in self.lines}
        missing = [r for r in rows if (r.get("fold"), r.get("epoch")) not in have]
        for row in missing:
            self.append(row)
        return len(missing)
