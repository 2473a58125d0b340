"""``kopt export SOURCE --format F``: one deployable model and its model_card.md."""

from __future__ import annotations

import errno
import importlib.util
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from kopt.argparser import ArgumentParser, non_negative_int
from kopt.errors import KoptError, RunFailed, install_hint

# format -> (file or folder name in --out, Keras' model.export format or None for a .keras file, modules needed)
FORMATS = {
    "keras": ("model.keras", None, ()),
    "saved_model": ("saved_model", "tf_saved_model", ()),
    "onnx": ("model.onnx", "onnx", ("tf2onnx", "onnx")),
    "litert": ("model.tflite", "litert", ()),  # TensorFlow's own converter
}

DESCRIPTION = """\
Export the model of SOURCE (a train run, a study, an ensemble dir) as ONE model: a k-fold
run's fold models and an ensemble's members are averaged inside it (a vote ensemble exports
the mean). It takes raw inputs and outputs class probabilities. Formats: keras (model.keras),
saved_model (TensorFlow SavedModel, serving endpoint `serve`), onnx (model.onnx, needs the
export extra), litert (model.tflite). model_card.md next to it: data, split, metrics ± std over
folds, parameters, FLOPs, the config and the command that trained it. --out must not exist
or be empty (default runs/export/<timestamp>/)."""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="kopt export", description=DESCRIPTION)
    p.add_argument("source", metavar="SOURCE", help="a train run, study or ensemble dir")
    p.add_argument("--format", choices=list(FORMATS), default="keras", help="the export format (default keras)")
    p.add_argument("--trial", type=non_negative_int, default=None, help="with a study: this trial's model")
    p.add_argument("--out", default=None, help="output folder (default runs/export/<timestamp>/)")
    return p


def check_extra(fmt: str) -> None:
    missing = [m for m in FORMATS[fmt][2] if importlib.util.find_spec(m) is None]
    if missing:
        raise KoptError(f"--format {fmt} needs {', '.join(missing)}: {install_hint('export')}")


def write(model, fmt: str, folder: Path) -> None:
    """``model`` in ``fmt`` inside ``folder`` (a new, private folder: the caller renames it into place)."""
    name, keras_format, _ = FORMATS[fmt]
    if keras_format is None:
        from kopt.rundir import atomic_save_model

        atomic_save_model(model, folder / name)
        return
    import numpy as np

    model(np.zeros((1, *model.input_shape[1:]), "float32"))  # the ONNX exporter refuses a model never called
    model.export(str(folder / name), format=keras_format, verbose=False)


# the temp folder an export writes before renaming it into place: .<out>.export-<host>-<pid>.<random>.tmp
TEMP = re.compile(r"^\..*\.export-(?P<host>[A-Za-z0-9_]+)-(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or a pid we may not signal: alive
        return True
    return True


def clean_stale(folder: Path) -> None:
    """Remove the temp folders of exports on this host whose process is gone (killed by SIGKILL, the
    machine's power cut): their ``finally`` never ran. Other hosts' and live exports' are left."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        match = TEMP.match(entry.name)
        if match is None or match["host"] != _host() or entry.is_symlink() or not entry.is_dir():
            continue
        if not _alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)


def _io_error(exc: Exception) -> str | None:
    """Why writing failed, for an OSError or TensorFlow's own I/O errors (SavedModel); else None."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(exc, tf.errors.OpError):
        message = str(getattr(exc, "message", exc))
        for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO):
            if os.strerror(code) in message:
                return os.strerror(code)
        if isinstance(exc, (tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError)):
            return (message.splitlines() or [""])[0][-200:]
    return None


def _umask_folder(folder: Path) -> None:
    """mkdtemp makes the folder 0700; give it (and what the exporters made) the umask's modes."""
    from kopt.rundir.files import _umask

    mask = _umask()
    for root, dirs, _files in os.walk(folder):
        for d in dirs:
            os.chmod(Path(root) / d, 0o777 & ~mask)
    os.chmod(folder, 0o777 & ~mask)


def main(argv: list[str]) -> None:
    args = parser().parse_intermixed_args(argv)
    check_extra(args.format)
    from kopt.predict.source import resolve
    from kopt.rundir import atomic_write_text, check_writable
    from kopt.runload import output_dir

    source = resolve(args.source, args.trial)
    out = output_dir("export", args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KoptError(f"--out {out}: exists and is not empty; give a new folder (nothing is overwritten)")
    check_writable(out)
    from kopt.runtime import setup_tensorflow

    setup_tensorflow(int(source.run.summary.seed or 0), True, 0, 0, False)
    from kopt.console import console
    from kopt.models.flops import count_flops
    from kopt.predict import model as averaged
    from kopt.predict.card import model_card

    model = averaged.build(source)
    name = FORMATS[args.format][0]
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out.parent)
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{out.name}.export-{_host()}-{os.getpid()}.", suffix=".tmp", dir=out.parent)
        )
        write(model, args.format, tmp)
        command = " ".join(["kopt", "export", *argv]) if argv else "kopt export"
        card = model_card(source, args.format, name, int(model.count_params()), count_flops(model), command)
        atomic_write_text(tmp / "model_card.md", card)
        _umask_folder(tmp)
        try:
            if out.is_dir():
                out.rmdir()  # empty (checked above), unless another export filled it meanwhile
            os.replace(tmp, out)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise KoptError(
                    f"--out {out}: another export wrote it meanwhile; nothing was overwritten (give a new folder)"
                ) from None
            raise
    except Exception as exc:
        why = _io_error(exc)
        if why is None:
            raise
        raise RunFailed(
            f"I/O error on {out}: {why}; nothing was written (free some space or fix it, then run it again)"
        ) from None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    console.print(
        f"kopt export: {source.description} -> {out / name} ({args.format}), "
        f"{model.count_params():,} parameters; model card {out / 'model_card.md'}"
    )
    sys.stdout.flush()
