"""Reading files in a run dir that someone else wrote: safely, or one line that names the file.

Every reader of run dirs (the strict one in kopt/runload.py for compare and ensemble, the
lenient one in kopt/report/collect.py, resume) opens files through here, so a run dir can hang
or crash none of them:

* only regular files are read (a FIFO, a device or a folder named ``summary.json`` is refused
  without blocking: the file is opened with O_NONBLOCK and checked with fstat);
* with ``root``, a path that leads outside that folder (through a symlink) is not followed;
* sizes are bounded: text files by :data:`MAX_TEXT_BYTES`, arrays by the memory they would
  take, checked from the zip directory and each ``.npy`` header before anything is allocated;
* parse errors of any kind (deep nesting included) become :class:`BadFile`.

Nothing here executes anything from a file: JSON, safe YAML, and ``.npz`` without pickle.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kopt.errors import KoptError

if TYPE_CHECKING:  # numpy loads with the first array, not with this module
    import numpy as np

MAX_TEXT_BYTES = 64 << 20  # a summary, config or metrics log larger than this is not one kopt wrote
MAX_HEADER_BYTES = 10_000  # numpy's own default limit for a .npy header


class BadFile(KoptError, ValueError):
    """A run-dir file that cannot be read safely; the message names the file (a ValueError too,
    so callers that already handled malformed JSON handle it)."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_inside(path: Path, root: Path | None) -> None:
    """Refuse ``path`` if, with its links followed, it is not inside ``root``."""
    if root is None:
        return
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        raise BadFile(f"{path}: a link that leads outside {root}; not followed") from None
    except (RuntimeError, OSError):  # a link loop
        raise BadFile(f"{path}: a link that leads nowhere (a loop); not followed") from None


def open_regular(path: Path, root: Path | None = None, limit: int | None = MAX_TEXT_BYTES):
    """A binary file object for a regular file (FileNotFoundError if there is none), never blocking."""
    path = Path(path)
    check_inside(path, root)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise BadFile(f"{path}: cannot be read ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise BadFile(f"{path}: {_kind(info.st_mode)}, not a file; not read")
    if limit is not None and info.st_size > limit:
        os.close(fd)
        raise BadFile(f"{path}: {info.st_size} bytes, more than the {limit} such a file may have; not read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: Path, root: Path | None = None, limit: int = MAX_TEXT_BYTES) -> bytes:
    with open_regular(path, root, limit) as fh:
        return fh.read(limit + 1)[:limit]


def read_text(path: Path, root: Path | None = None, limit: int = MAX_TEXT_BYTES) -> str:
    try:
        return read_bytes(path, root, limit).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadFile(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_json(path: Path, root: Path | None = None) -> Any:
    text = read_text(path, root)
    try:
        return json.loads(text)
    except RecursionError:
        raise BadFile(f"{path}: malformed JSON (nested too deeply)") from None
    except ValueError as exc:
        raise BadFile(f"{path}: malformed JSON ({exc})") from None


def read_json_object(path: Path, root: Path | None = None) -> dict:
    data = read_json(path, root)
    if not isinstance(data, dict):
        raise BadFile(f"{path}: malformed (a JSON {type(data).__name__}, not an object)")
    return data


def read_yaml(path: Path, root: Path | None = None) -> Any:
    """A YAML file read as OmegaConf reads it (its safe loader), as plain containers."""
    from omegaconf import OmegaConf

    text = read_text(path, root)
    try:
        node = OmegaConf.load(io.StringIO(text))  # yaml's safe loader: no Python objects
        return OmegaConf.to_container(node, resolve=False)
    except RecursionError:
        raise BadFile(f"{path}: unreadable (nested too deeply)") from None
    except Exception as exc:  # yaml and OmegaConf raise a variety of types
        first = (str(exc).splitlines() or [""])[0]
        raise BadFile(f"{path}: unreadable ({type(exc).__name__}: {first})") from None


def memory_budget() -> int:
    """Bytes an array file may unpack to: half the memory available now (at least 64 MiB)."""
    from kopt.procs import available_memory

    return max(available_memory() // 2, 64 << 20)


def _npy_size(member, name: str, path: Path) -> int:
    """Bytes the array in one .npy member (or file) needs, from its header; refuses object arrays."""
    import numpy as np

    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=MAX_HEADER_BYTES)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=MAX_HEADER_BYTES)
    if dtype.hasobject:
        what = f"array {name}" if name else "the array"
        raise BadFile(f"{path}: {what} holds Python objects (pickled data); refused (allow_pickle=False)")
    return int(np.prod(shape, dtype=object)) * dtype.itemsize


def load_npy(path: Path, root: Path | None = None, budget: int | None = None) -> np.ndarray:
    """The array of a ``.npy`` file, after checking from its header that the file holds the bytes
    the header claims and that they fit in ``budget`` bytes (default :func:`memory_budget`)."""
    import numpy as np

    path = Path(path)
    budget = memory_budget() if budget is None else budget
    with open_regular(path, root, limit=None) as fh:
        try:
            need = _npy_size(fh, "", path)
            held = os.fstat(fh.fileno()).st_size - fh.tell()
            if need > held:
                raise BadFile(f"{path}: its header claims {need} bytes but the file holds {held} (damaged?); not read")
            if need > budget:
                raise BadFile(f"{path}: {need} bytes, more than the {budget} allowed in memory; not read")
            fh.seek(0)
            return np.load(fh, allow_pickle=False)
        except BadFile:
            raise
        except Exception as exc:  # numpy's header parser (literal_eval), a short read, ...
            first = (str(exc).splitlines() or [""])[0][:200] or "empty"
            raise BadFile(f"{path}: unreadable ({type(exc).__name__}: {first})") from None


def load_npz(
    path: Path, required: tuple[str, ...] = (), root: Path | None = None, budget: int | None = None
) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, after checking from the zip directory and every ``.npy`` header
    that they fit in ``budget`` bytes (default :func:`memory_budget`): a zip bomb is never unpacked."""
    import numpy as np

    path = Path(path)
    budget = memory_budget() if budget is None else budget
    with open_regular(path, root, limit=None) as fh:
        try:
            with zipfile.ZipFile(fh) as zf:
                infos = zf.infolist()
                unpacked = sum(i.file_size for i in infos)
                if unpacked > budget:
                    raise BadFile(f"{path}: unpacks to {unpacked} bytes, more than the {budget} allowed; not read")
                for info in infos:
                    with zf.open(info) as member:
                        need = _npy_size(member, info.filename, path)
                    if need > info.file_size:
                        raise BadFile(
                            f"{path}: array {info.filename} claims {need} bytes in a {info.file_size}-byte "
                            "member (damaged or hostile); not read"
                        )
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except BadFile:
            raise
        except Exception as exc:  # zipfile, numpy's header parser (literal_eval) and zlib raise many types
            first = (str(exc).splitlines() or [""])[0][:200]
            raise BadFile(f"{path}: unreadable ({type(exc).__name__}: {first})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise BadFile(f"{path}: missing array(s) {', '.join(missing)}")
    return arrays
