"""Reading a run dir someone else wrote executes no code from it.

A static check over kopt's sources (every loader call is a safe one), and a booby-trapped run
dir: pickles that would create a marker file if they were ever unpickled, and a YAML config
with a Python tag. kopt must refuse them with a clear message and never run them.
"""

from __future__ import annotations

import ast
import json
import pathlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY, assert_clean_error, read_summary, run_kopt

SOURCES = sorted((ROOT / "kopt").rglob("*.py"))
BANNED_CALLS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("yaml", "unsafe_load_all"),
    ("torch", "load"),
    ("joblib", "load"),
    ("dill", "load"),
    ("dill", "loads"),
    ("marshal", "load"),
    ("marshal", "loads"),
    ("shelve", "open"),
}


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
            yield node, owner, name


def _kw(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _is_const(value, expected) -> bool:
    return isinstance(value, ast.Constant) and value.value is expected


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sources_only_use_safe_loaders(path):
    tree = ast.parse(path.read_text(), str(path))
    where = lambda node: f"{path.relative_to(ROOT)}:{node.lineno}"  # noqa: E731
    for call, owner, name in _calls(tree):
        assert (owner, name) not in BANNED_CALLS, f"{where(call)}: {owner}.{name} can execute code from a file"
        if name == "load" and owner in ("np", "numpy"):
            assert _is_const(_kw(call, "allow_pickle"), False), f"{where(call)}: np.load needs allow_pickle=False"
        if name == "load_model":
            assert _is_const(_kw(call, "safe_mode"), True), f"{where(call)}: load_model needs safe_mode=True"
        if name == "load" and owner == "yaml":
            loader = _kw(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
            text = ast.unparse(loader) if loader is not None else ""
            assert "Safe" in text, f"{where(call)}: yaml.load needs a SafeLoader"
    for node in ast.walk(tree):  # a custom Unpickler must restrict what it rebuilds
        if isinstance(node, ast.ClassDef) and any("Unpickler" in ast.unparse(b) for b in node.bases):
            methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            assert "find_class" in methods, f"{where(node)}: {node.name} must override find_class"


class _Trap:
    """Unpickling this creates the marker file: proof that code from the run dir ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _trap_npz(path: Path, marker: Path, **named) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    trap = np.array([_Trap(marker)], dtype=object)
    np.savez(path, **{name: trap for name in named or {"test": 0}})


@pytest.fixture(scope="module")
def composed(tmp_path_factory) -> str:
    proc = run_kopt("train", "--cfg", "job", *TINY, cwd=tmp_path_factory.mktemp("cfg"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def booby_trapped_run(cwd: Path, composed: str, marker: Path) -> Path:
    run = cwd / "runs" / "train" / "2026-01-01_00-00-00_000000"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(composed)
    (run / "summary.json").write_text(json.dumps({"status": "interrupted", "metrics": {}, "error": "SIGTERM"}))
    _trap_npz(run / "splits.npz", marker, test=0, train_0=0, val_0=0)
    _trap_npz(run / "checkpoints" / "fold0-epoch0001.npz", marker, **{"meta": 0, "model/0": 0})
    _trap_npz(run / "checkpoints" / "fold0-result.npz", marker, meta=0, probs=0)
    return run


def test_kopt_readers_refuse_pickles_in_process(tmp_path, composed):
    from kopt.data.splits import Splits
    from kopt.training.checkpoint import CheckpointStore, CorruptCheckpoint, read_npz

    marker = tmp_path / "marker"
    run = booby_trapped_run(tmp_path, composed, marker)
    with pytest.raises(ValueError):
        Splits.load(run / "splits.npz")
    with pytest.raises(CorruptCheckpoint, match="allow_pickle"):
        read_npz(run / "checkpoints" / "fold0-epoch0001.npz")
    assert CheckpointStore(run).load_result(0) is None  # set aside as corrupt: the fold is trained again
    assert not marker.exists()


def test_resuming_a_booby_trapped_run_runs_none_of_it(tmp_path, composed):
    marker = tmp_path / "marker"
    run = booby_trapped_run(tmp_path, composed, marker)
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not marker.exists()
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("kopt: warning:")]
    assert any("splits.npz is unreadable" in w for w in warnings), proc.stderr
    assert any("fold0-result.npz is unreadable" in w for w in warnings), proc.stderr
    assert any("fold0-epoch0001.npz is unreadable" in w for w in warnings), proc.stderr
    summary = read_summary(run)
    assert summary["status"] == "completed" and summary["folds"][0]["epochs_run"] == 2  # trained from scratch
    with np.load(run / "splits.npz", allow_pickle=False) as z:  # rewritten as plain arrays
        assert z["test"].dtype.kind == "i"


def test_a_config_with_python_tags_is_refused(tmp_path, composed):
    marker = tmp_path / "marker"
    run = booby_trapped_run(tmp_path, composed, marker)
    assert "\nseed: 0\n" in composed
    trap = f"seed: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path [{str(marker)!r}]]"
    (run / ".hydra" / "config.yaml").write_text(composed.replace("\nseed: 0\n", f"\n{trap}\n"))
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert_clean_error(proc, "config.yaml: unreadable")
    assert not marker.exists()
