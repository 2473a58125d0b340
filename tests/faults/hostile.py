"""Helpers for hostile run dirs: a finished k-fold run written by hand (no TensorFlow, milliseconds),
ways to damage it, and `kopt` called in-process with its exit code and output captured."""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import traceback
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

CONFIG = {
    "seed": 0,
    "dataset": {"name": "synthetic", "size": 200},
    "split": {"name": "kfold", "k": 3},
    "model": {"name": "mlp"},
}


def finished_run(path: Path, folds: int = 3, n: int = 30, classes: int = 3, seed: int = 0, shift: float = 0.0) -> Path:
    """A completed k-fold run dir with everything compare and ensemble read."""
    rng = np.random.default_rng(seed + int(shift * 100))
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["split=kfold"]))
    fold_rows = [
        {
            "fold": k,
            "best_epoch": 2,
            "epochs_run": 2,
            "val_accuracy": 0.6 + 0.05 * k + shift,
            "val_loss": 0.9 - 0.05 * k,
            "test_accuracy": 0.6 + shift,
            "test_loss": 0.8,
        }
        for k in range(folds)
    ]
    summary = {
        "status": "completed",
        "seed": seed,
        "choices": {"model": "mlp", "split": "kfold"},
        "params": 1234,
        "duration_s": 1.5,
        "folds": fold_rows,
        "metrics": {"val_accuracy": 0.65 + shift, "val_loss": 0.85, "test_accuracy": 0.6, "test_loss": 0.8},
    }
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "metrics.jsonl").write_text(
        "".join(
            json.dumps({"fold": k, "epoch": e, "loss": 1.0 / e, "val_accuracy": 0.5}) + "\n"
            for k in range(folds)
            for e in (1, 2)
        )
    )
    idx = np.arange(200)
    test = idx[:n]
    splits = {"test": test}
    for k in range(folds):
        val = idx[n + k * 10 : n + (k + 1) * 10]
        splits[f"train_{k}"], splits[f"val_{k}"] = np.setdiff1d(idx[n:], val), val
    np.savez_compressed(path / "splits.npz", **splits)
    fold_probs = rng.dirichlet(np.ones(classes), size=(folds, n)).astype("float32")
    np.savez_compressed(
        path / "predictions.npz",
        y_true=np.arange(n) % classes,
        probs=fold_probs.mean(axis=0),
        fold_probs=fold_probs,
        test_idx=test,
    )
    return path


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k].copy() for k in z.files}


def rewrite_npz(path: Path, change) -> None:
    arrays = npz_arrays(path)
    change(arrays)
    np.savez_compressed(path, **arrays)


def npy_claiming(shape: tuple[int, ...], body: bytes = b"\0" * 64, dtype: str = "<f8") -> bytes:
    """A .npy member whose header claims ``shape`` whatever its body holds."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def write_members(path: Path, members: dict[str, bytes], arrays: dict[str, np.ndarray] | None = None) -> None:
    """An .npz with raw .npy members (hostile headers) next to ordinary arrays."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in (arrays or {}).items():
            buf = io.BytesIO()
            np.save(buf, array, allow_pickle=False)
            zf.writestr(f"{name}.npy", buf.getvalue())
        for name, raw in members.items():
            zf.writestr(f"{name}.npy", raw)


def _accepted(*args, **kwargs):
    raise AssertionError("a bad command line was accepted: its run would have started")


def kopt_in_process(*args: str, cwd: Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `kopt ARGS` run in this process; a traceback lands in stderr.
    For bad input only: a `kopt train` or `kopt tune` that gets as far as its run is that traceback,
    not a run (one in this process once closed the streams of every later test of its worker)."""
    from unittest import mock

    from kopt.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    code = 0
    os.chdir(cwd)
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            mock.patch("kopt.commands.train.run_hydra_app", _accepted),
            mock.patch("kopt.commands.tune.run_hydra_app", _accepted),
        ):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except pytest.skip.Exception:  # `make test-fast` skips a run that loads TensorFlow
                raise
            except BaseException:
                err.write(traceback.format_exc())
                code = -1
    finally:
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


def assert_one_line(result: tuple[int, str, str], *needles: str) -> str:
    """Exit code 2, exactly one `kopt: error:` line holding ``needles``, and no traceback."""
    code, out, err = result
    assert "Traceback" not in out + err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("kopt: error:")]
    assert code == 2 and len(errors) == 1, (code, err[-3000:])
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]
