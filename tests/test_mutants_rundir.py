"""kopt.rundir's reader checks and JSON writer, message by message, on files written here (`make mutants`).
tests/test_rundir_contract.py checks the contract through kopt's commands."""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest

from kopt.errors import KoptError
from kopt.rundir import files, read
from kopt.runfiles import BadFile

P = Path("run/predictions.npz")


def arrays(**change):
    base = {
        "y_true": np.array([0, 1, 2]),
        "probs": np.full((3, 3), 1 / 3),
        "fold_probs": np.full((2, 3, 3), 1 / 3),
        "test_idx": np.array([5, 6, 7]),
    }
    return {**base, **change}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"y_true": np.array([[0, 1, 2]])},
            "y_true must be a non-empty 1-D array of class indices (got int64 of shape (1, 3))",
        ),
        (
            {"y_true": np.array([0.0, 1.0, 2.0])},
            "y_true must be a non-empty 1-D array of class indices (got float64 of shape (3,))",
        ),
        (
            {"y_true": np.array([], "int64")},
            "y_true must be a non-empty 1-D array of class indices (got int64 of shape (0,))",
        ),
        ({"probs": np.full((3,), 0.5)}, "probs must be (3, classes) probabilities (got float64 of shape (3,))"),
        ({"probs": np.full((2, 3), 0.5)}, "probs must be (3, classes) probabilities (got float64 of shape (2, 3))"),
        ({"probs": np.full((3, 1), 0.5)}, "probs must be (3, classes) probabilities (got float64 of shape (3, 1))"),
        ({"probs": np.full((3, 3), 1)}, "probs must be (3, classes) probabilities (got int64 of shape (3, 3))"),
        ({"fold_probs": np.full((3, 3), 0.5)}, "fold_probs must be (folds, 3, 3) (got float64 of shape (3, 3))"),
        ({"fold_probs": np.full((2, 3, 2), 0.5)}, "fold_probs must be (folds, 3, 3) (got float64 of shape (2, 3, 2))"),
        ({"fold_probs": np.full((2, 3, 3), 0)}, "fold_probs must be (folds, 3, 3) (got int64 of shape (2, 3, 3))"),
        ({"fold_probs": np.full((1, 3, 3), 0.5)}, "fold_probs holds 1 fold(s), summary.json 2"),
        ({"test_idx": np.array([5, 6])}, "test_idx must be 3 indices (got int64 of shape (2,))"),
        ({"test_idx": np.array([5.0, 6.0, 7.0])}, "test_idx must be 3 indices (got float64 of shape (3,))"),
        ({"y_true": np.array([0, 1, 3])}, "y_true holds class 3; allowed: 0 .. 2"),
        ({"y_true": np.array([0, -2, 5])}, "y_true holds class -2; allowed: 0 .. 2"),
        ({"probs": np.array([[0.5, np.nan, 0.5]] * 3)}, "probs holds NaN or inf"),
        ({"fold_probs": np.full((2, 3, 3), np.inf)}, "fold_probs holds NaN or inf"),
        ({"probs": np.full((3, 3), -0.1)}, "probs holds values outside 0 .. 1 (not probabilities)"),
        ({"fold_probs": np.full((2, 3, 3), 1.002)}, "fold_probs holds values outside 0 .. 1 (not probabilities)"),
    ],
)
def test_check_predictions_names_each_problem(change, message):
    with pytest.raises(BadFile) as err:
        read.check_predictions(P, arrays(**change), 2)
    assert str(err.value) == f"{P}: {message}"


def test_check_predictions_accepts_edges():
    read.check_predictions(P, arrays(), 2)
    read.check_predictions(P, arrays(y_true=np.array([0, 0, 2], "uint8"), test_idx=np.array([1, 2, 3], "uint32")), 2)
    read.check_predictions(P, arrays(probs=np.full((3, 3), 1.0009), fold_probs=np.zeros((2, 3, 3))), 2)
    read.check_predictions(
        P, arrays(probs=np.full((3, 2), 0.5), fold_probs=np.full((2, 3, 2), 0.5), y_true=np.array([0, 1, 1])), 2
    )


def summary(tmp_path, **raw) -> Path:
    (tmp_path / "summary.json").write_text(json.dumps(raw))
    return tmp_path


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"status": 3}, "status is a int, not a str"),
        ({"metrics": []}, "metrics is a list, not a dict"),
        ({"params": True}, "params is a bool, not a int"),
        ({"params": 1.5}, "params is a float, not a int"),
        ({"duration_s": "1"}, "duration_s is a str, not a number"),
        ({"seed": 1.0}, "seed is a float, not a number"),
        ({"folds": {}}, "folds is a dict, not a list"),
        ({"choices": {"model": ["cnn"]}}, "choices.model is a list, not an option name"),
        ({"choices": {"model": {"name": "cnn"}}}, "choices.model is a dict, not an option name"),
        ({"folds": [{"fold": 0}, 3]}, "folds is not a list of objects"),
    ],
)
def test_read_summary_names_a_wrong_type(tmp_path, raw, message):
    run = summary(tmp_path, **raw)
    for strict in (True, False):
        with pytest.raises(BadFile) as err:
            read.read_summary(run, strict)
        assert str(err.value) == f"{run / 'summary.json'}: {message}"


def test_read_summary_accepts_each_type_and_none(tmp_path):
    run = summary(
        tmp_path, status="completed", params=3, duration_s=1, seed="7", folds=[], choices={"m": "x"}, error=None
    )
    s = read.read_summary(run)
    assert (s.status, s.params, s.duration_s, s.seed, s.folds, s.choices) == ("completed", 3, 1, "7", [], {"m": "x"})
    assert read.read_summary(summary(tmp_path, duration_s=2.5)).status == "unknown"  # no status: unknown


def test_a_run_dir_without_summary(tmp_path):
    with pytest.raises(KoptError) as err:
        read.read_summary(tmp_path)
    assert str(err.value) == f"{tmp_path}: no summary.json (not a kopt train run dir)"
    s = read.read_summary(tmp_path, strict=False)
    assert (s.status, s.error) == ("unknown", "no summary.json")


def test_a_running_run_whose_process_is_gone_reads_as_died_when_lenient(tmp_path):
    raw = {"status": "running", "host": socket.gethostname(), "pid": 2**22 + 12345, "started_at": "2026-01-01T00:00:00"}
    run = summary(tmp_path, **raw)
    assert read.read_summary(run, strict=True).status == "running"
    s = read.read_summary(run, strict=False)
    assert (s.status, s.error) == ("died", f"process {2**22 + 12345} is gone")
    run = summary(tmp_path, **raw, error="OOM")
    assert read.read_summary(run, strict=False).error == "OOM"


def test_load_run_strict_and_lenient(tmp_path):
    with pytest.raises(KoptError) as err:
        read.load_run(tmp_path / "nope")
    assert str(err.value) == f"{tmp_path / 'nope'}: no such run dir"
    run = summary(tmp_path, status="failed")
    with pytest.raises(KoptError) as err:
        read.load_run(run)
    assert str(err.value) == f"{run}: run status is 'failed', only completed runs can be used"
    summary(tmp_path, status="completed", folds=[])
    with pytest.raises(KoptError) as err:
        read.load_run(run)
    assert str(err.value) == f"{run / 'summary.json'}: no folds recorded"
    summary(tmp_path, status="completed", folds=[{"val_accuracy": 0.5, "duration_s": 1.0, "fold": 0}])
    assert read.load_run(run).label == str(run)
    summary(tmp_path, status="failed")
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("a: 1\n")
    with pytest.raises(BadFile) as err:
        read.load_run(run, strict=False)
    assert str(err.value) == f"{run / '.hydra' / 'overrides.yaml'}: not a list of overrides"
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- model=mlp\n- 3\n")
    assert read.load_run(run, strict=False).overrides == ["model=mlp", "3"]


def test_fold_scores(tmp_path):
    folds = [
        {"fold": 0, "val_accuracy": 0.5, "val_loss": 1, "duration_s": 2.0, "note": "x"},
        {"fold": 1, "val_accuracy": 0.75, "val_loss": 0.5, "duration_s": 3.0},
    ]
    run = read.load_run(summary(tmp_path, status="completed", folds=folds))
    scores = run.fold_scores("val_accuracy")
    assert scores.dtype == np.float64 and scores.tolist() == [0.5, 0.75]
    assert run.fold_scores("val_loss").tolist() == [1.0, 0.5]
    with pytest.raises(KoptError) as err:
        run.fold_scores("test_accuracy")
    assert str(err.value) == f"--metric test_accuracy: not a per-fold score of {tmp_path}; allowed: val_accuracy"
    with pytest.raises(KoptError) as err:
        run.fold_scores("note")
    assert "allowed: val_accuracy" in str(err.value)


def test_a_missing_npz_is_one_line(tmp_path):
    run = read.load_run(summary(tmp_path, status="completed", folds=[{"fold": 0}]))
    with pytest.raises(KoptError) as err:
        run.predictions  # noqa: B018
    assert str(err.value) == f"{tmp_path}: no predictions.npz (not a finished kopt train run dir)"
    assert run.curves() == []


def test_jsonable_turns_numpy_and_non_finite_values_into_json():
    data = {
        1: np.float32(0.5),
        "a": (np.int64(3), [np.array([1, 2])]),
        "nan": math.nan,
        "inf": -math.inf,
        "big": math.inf,
        "f": 1.5,
        "s": "x",
    }
    assert files._jsonable(data) == {
        "1": 0.5,
        "a": [3, [[1, 2]]],
        "nan": None,
        "inf": None,
        "big": None,
        "f": 1.5,
        "s": "x",
    }


def test_atomic_write_json_is_indented_with_a_newline(tmp_path):
    files.atomic_write_json(tmp_path / "sub" / "x.json", {"b": [1, np.int32(2)], "a": math.nan})
    assert (tmp_path / "sub" / "x.json").read_text() == '{\n  "b": [\n    1,\n    2\n  ],\n  "a": null\n}\n'
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.json"]  # no temp file left


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_metrics_writer_keeps_fold_epoch_order(tmp_path):
    path = tmp_path / "metrics.jsonl"
    w = files.MetricsWriter(path)
    assert w.lines == []
    for fold, epoch in ((1, 1), (1, 2), (0, 2), (0, 1)):
        w.append({"fold": fold, "epoch": epoch, "loss": np.float32(0.5)})
    assert [(r["fold"], r["epoch"]) for r in lines(path)] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert path.read_text().endswith("}\n") and lines(path)[0]["loss"] == 0.5
    w.append({"fold": "x", "epoch": 0})  # not numbered: at the end
    w.append({"fold": 0, "epoch": 3})  # stops at the unnumbered row above it
    assert [(r["fold"], r["epoch"]) for r in lines(path)][-2:] == [("x", 0), (0, 3)]
    again = files.MetricsWriter(path)
    assert again.lines == path.read_text().splitlines()


def test_metrics_writer_drop_and_restore(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"fold": 0, "epoch": 1}\nnot json\n{"fold": 0, "epoch": 2}\n{"fold": 1, "epoch": 1}\n')
    w = files.MetricsWriter(path)
    assert files.MetricsWriter._key("not json") is None and files.MetricsWriter._key('{"fold": 0}') is None
    assert files.MetricsWriter._key('{"fold": "2", "epoch": 3.0}') == (2, 3)
    assert files.MetricsWriter._key("[1]") is None
    w.drop(lambda row: row["fold"] == 1)
    assert path.read_text() == '{"fold": 0, "epoch": 1}\n{"fold": 0, "epoch": 2}\n'  # the damaged line went too
    mtime = path.stat().st_mtime_ns
    w.drop(lambda row: False)
    assert path.stat().st_mtime_ns == mtime  # nothing dropped: not rewritten
    rows = [{"fold": 0, "epoch": 1}, {"fold": 0, "epoch": 3}, {"fold": 1, "epoch": 1, "acc": 1}]
    assert w.restore(rows) == 2
    assert lines(path) == [{"fold": 0, "epoch": 1}, {"fold": 0, "epoch": 2}, {"fold": 0, "epoch": 3}, rows[2]]
    assert w.restore(rows) == 0


def test_read_metrics_leaves_damaged_lines_out(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"a": 1}\n\n[1]\n{"b": \n' + "[" * 5000 + "\n" + '{"c": 2}\n')
    assert files.read_metrics(tmp_path) == [{"a": 1}, {"c": 2}]


def test_check_writable(tmp_path):
    files.check_writable(tmp_path / "new" / "run")  # the nearest existing folder is probed
    assert list(tmp_path.iterdir()) == []  # the probe is removed
    (tmp_path / "f").write_text("")
    with pytest.raises(KoptError) as err:
        files.check_writable(tmp_path / "f" / "run")
    assert str(err.value) == f"cannot write the run dir {tmp_path / 'f' / 'run'}: {tmp_path / 'f'} is not a folder"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):
            with pytest.raises(KoptError) as err:
                files.check_writable(ro / "run")
            assert str(err.value) == (
                f"cannot write the run dir {ro / 'run'}: {ro} is not writable (Permission denied); "
                "make it writable or free some space"
            )
    finally:
        ro.chmod(0o700)


def test_claim_marks_the_run_running_and_keeps_what_was_recorded(tmp_path):
    import datetime as dt

    from kopt.rundir import summary as sm

    sm.claim(tmp_path, {}, 7)
    raw = json.loads((tmp_path / "summary.json").read_text())
    assert (raw["status"], raw["seed"], raw["folds"], raw["run_dir"]) == ("running", 7, [], str(tmp_path))
    assert (raw["pid"], raw["host"]) == (os.getpid(), socket.gethostname())
    assert raw["started_at"] == raw["finished_at"]
    started = dt.datetime.fromisoformat(raw["started_at"])
    assert started.utcoffset() == dt.timedelta(0) and abs((dt.datetime.now(dt.UTC) - started).total_seconds()) < 60
    sm.claim(
        tmp_path, {"started_at": "2026-01-01T00:00:00+00:00", "folds": [{"fold": 0}], "seed": 3, "status": "failed"}, 7
    )
    raw = json.loads((tmp_path / "summary.json").read_text())
    assert (raw["status"], raw["seed"], raw["folds"], raw["started_at"]) == (
        "running",
        3,
        [{"fold": 0}],
        "2026-01-01T00:00:00+00:00",
    )
    assert raw["finished_at"] != raw["started_at"]


def test_a_studys_summary_is_written_as_given(tmp_path):
    from kopt.rundir import summary as sm

    sm.write_json_summary(tmp_path, {"best_value": math.nan, "counts": {"COMPLETE": 2}})
    assert (
        tmp_path / "summary.json"
    ).read_text() == '{\n  "best_value": null,\n  "counts": {\n    "COMPLETE": 2\n  }\n}\n'


def values(**change):
    """A regression's predictions.npz: values, not probabilities (any sign, above 1)."""
    base = {
        "y_true": np.array([-1.5, 0.25, 30.0], "float32"),
        "probs": np.array([[-2.0], [0.5], [28.0]], "float32"),
        "fold_probs": np.array([[[-2.0], [0.5], [28.0]]] * 2, "float32"),
        "test_idx": np.array([5, 6, 7]),
    }
    return {**base, **change}


def label_sets(**change):
    """A multi-label predictions.npz: a 0/1 matrix and one probability per label."""
    y = np.array([[1, 0], [0, 0], [1, 1]], "float32")
    return {"y_true": y, "probs": np.full((3, 2), 0.4), "fold_probs": np.full((2, 3, 2), 0.4),
            "test_idx": np.array([5, 6, 7]), **change}  # fmt: skip


def test_check_predictions_reads_each_task():
    read.check_predictions(P, values(), 2, "regression")
    read.check_predictions(P, values(y_true=np.array([20, 31, 45])), 2, "regression")  # integer targets
    read.check_predictions(P, label_sets(), 2, "multilabel")
    with pytest.raises(BadFile) as err:  # a regression's values read as classes: refused as before
        read.check_predictions(P, values(), 2)
    assert "y_true must be a non-empty 1-D array of class indices" in str(err.value)


@pytest.mark.parametrize(
    ("task", "change", "message"),
    [
        (
            "regression",
            {"y_true": np.array([0.0, np.nan, 1.0])},
            "y_true must be a non-empty 1-D array of finite values",
        ),
        ("regression", {"probs": np.zeros((3, 2))}, "probs must be (3, 1) predicted values"),
        ("regression", {"probs": np.array([[0.0], [np.inf], [1.0]])}, "probs holds NaN or inf"),
        ("multilabel", {"y_true": np.array([[1, 2], [0, 0], [1, 1]])}, "y_true must be a non-empty (examples, labels)"),
        ("multilabel", {"probs": np.full((3, 3), 0.4)}, "probs must be (3, 2) probabilities, one per label"),
        ("multilabel", {"probs": np.full((3, 2), 1.5)}, "probs holds values outside 0 .. 1"),
    ],
)
def test_check_predictions_names_each_tasks_problem(task, change, message):
    maker = values if task == "regression" else label_sets
    with pytest.raises(BadFile) as err:
        read.check_predictions(P, maker(**change), 2, task)
    assert str(err.value).startswith(f"{P}: {message}"), err.value


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def test_umask_is_read_without_changing_it(umask, monkeypatch):
    for mask in (0o027, 0o002, 0o077):
        umask(mask)
        assert files._umask() == mask
        assert files._umask() == mask  # unchanged by the reading

    def no_proc(*args, **kwargs):
        raise OSError("no /proc")

    monkeypatch.setattr(files, "open", no_proc, raising=False)  # no /proc: os.umask, set back at once
    umask(0o026)
    assert files._umask() == 0o026 and os.umask(0o026) == 0o026


def test_atomic_writes_keep_the_umask(tmp_path, umask):
    for mask, mode in ((0o027, 0o640), (0o002, 0o664), (0o077, 0o600)):
        umask(mask)
        files.atomic_write_text(tmp_path / f"{mask:o}.txt", "x")
        assert (tmp_path / f"{mask:o}.txt").stat().st_mode & 0o777 == mode


def test_an_atomic_write_goes_through_a_temp_file_beside_it(tmp_path, monkeypatch):
    path = tmp_path / "a" / "b" / "x.json"
    seen = []

    def write(fh):
        seen.extend(os.listdir(path.parent))
        fh.write("new")

    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.fstat(fd).st_size))
    files._atomic(path, write)
    assert len(seen) == 1 and seen[0].startswith(".x.json.") and seen[0].endswith(".tmp")
    assert path.read_text() == "new" and os.listdir(path.parent) == ["x.json"] and synced == [3]
    files.atomic_write_text(path, "newer", sync=False)
    assert path.read_text() == "newer" and synced == [3]  # no fsync
    files.atomic_write_text(path, "newest")
    assert synced == [3, 6]
    files.atomic_savez(path.with_name("a.npz"), x=np.arange(3))
    assert synced[-1] == path.with_name("a.npz").stat().st_size
    assert np.load(path.with_name("a.npz"))["x"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("error", [ValueError("bad"), KeyboardInterrupt()])
def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp_file(tmp_path, error):
    path = tmp_path / "x.txt"
    path.write_text("old")

    def write(fh):
        fh.write("half")
        raise error

    with pytest.raises(type(error)):
        files._atomic(path, write)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["x.txt"]


def test_a_failed_rename_leaves_no_temp_file(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError(18, "cross-device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        files.atomic_write_text(tmp_path / "x.txt", "x")
    assert os.listdir(tmp_path) == []


def test_check_writable_probes_with_a_synced_4k_file(tmp_path, monkeypatch):
    probes = []

    def fsync(fd):
        probes.append((os.fstat(fd).st_size, [p for p in os.listdir(tmp_path)]))

    monkeypatch.setattr(os, "fsync", fsync)
    files.check_writable(tmp_path / "run")
    assert len(probes) == 1 and probes[0][0] == 4096
    assert len(probes[0][1]) == 1 and probes[0][1][0].startswith(".kopt-probe.")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("where", ["mkstemp", "fsync"])
def test_check_writable_names_a_full_disk(tmp_path, monkeypatch, where):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile if where == "mkstemp" else os, where, full)
    with pytest.raises(KoptError) as err:
        files.check_writable(tmp_path / "a" / "run")
    assert str(err.value) == (
        f"cannot write the run dir {tmp_path / 'a' / 'run'}: {tmp_path} is not writable (No space left on device); "
        "make it writable or free some space"
    )
    assert os.listdir(tmp_path) == []  # the probe is removed


def test_check_writable_makes_a_relative_path_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("")
    with pytest.raises(KoptError) as err:
        files.check_writable(Path("f/run"))
    assert str(err.value) == f"cannot write the run dir {tmp_path / 'f' / 'run'}: {tmp_path / 'f'} is not a folder"


def test_atomic_save_model_saves_through_a_keras_named_temp_file(tmp_path):
    saved = []

    def save(path):
        saved.append((path, sorted(os.listdir(tmp_path))))
        path.write_text("model")

    model = type("M", (), {"name": "m", "save": staticmethod(save)})()  # no optimizer attribute at all
    files.atomic_save_model(model, str(tmp_path / "model.keras"))
    assert saved == [(tmp_path / f".model.tmp{os.getpid()}.keras", [])]
    assert os.listdir(tmp_path) == ["model.keras"] and (tmp_path / "model.keras").read_text() == "model"


def test_atomic_save_model_refuses_a_training_model_and_cleans_up_a_failed_save(tmp_path):
    from types import SimpleNamespace

    compiled = SimpleNamespace(name="fold0", optimizer=object(), save=lambda path: path.write_text("x"))
    with pytest.raises(ValueError) as err:
        files.atomic_save_model(compiled, tmp_path / "model.keras")
    assert str(err.value) == "fold0: save an uncompiled inference copy, not the training model"
    assert os.listdir(tmp_path) == []

    def half(path):
        path.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        files.atomic_save_model(SimpleNamespace(name="m", optimizer=None, save=half), tmp_path / "model.keras")
    assert os.listdir(tmp_path) == []
    (tmp_path / "model.keras").write_text("old")
    with pytest.raises(OSError):
        files.atomic_save_model(SimpleNamespace(name="m", optimizer=None, save=half), tmp_path / "model.keras")
    assert os.listdir(tmp_path) == ["model.keras"] and (tmp_path / "model.keras").read_text() == "old"


@pytest.mark.keras_in_process
def test_atomic_save_model_of_a_keras_model_loads_back(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="inference")
    model.layers[0].kernel.assign(np.arange(6, dtype="float32").reshape(3, 2))
    files.atomic_save_model(model, tmp_path / "model.keras")
    assert os.listdir(tmp_path) == ["model.keras"]
    back = keras.saving.load_model(tmp_path / "model.keras")
    assert [w.tolist() for w in back.get_weights()] == [w.tolist() for w in model.get_weights()]
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="^inference: save an uncompiled inference copy"):
        files.atomic_save_model(model, tmp_path / "again.keras")


def test_check_predictions_of_each_task_refuses_what_its_own_check_names():
    """Each check stands alone: a kind that is wrong on its own, or a shape wrong on its own, is refused."""
    cases = [
        ("regression", values(y_true=np.array([True, False, True])), "y_true must be a non-empty 1-D array of finite values (got bool of shape (3,))"),
        ("regression", values(y_true=np.array([], "float32")), "y_true must be a non-empty 1-D array of finite values (got float32 of shape (0,))"),
        ("regression", values(y_true=np.array([[1.0], [2.0], [3.0]])), "y_true must be a non-empty 1-D array of finite values (got float64 of shape (3, 1))"),
        ("multilabel", label_sets(y_true=np.array([[1, 0], [0, 0], [1, 1]], "complex64")), "y_true must be a non-empty (examples, labels) array of 0 and 1 (got complex64 of shape (3, 2))"),
        ("multilabel", label_sets(y_true=np.zeros((0, 2)), probs=np.zeros((0, 2)), fold_probs=np.zeros((2, 0, 2)), test_idx=np.array([], "int64")), "y_true must be a non-empty (examples, labels) array of 0 and 1 (got float64 of shape (0, 2))"),
        ("multilabel", label_sets(y_true=np.array([1, 0, 1]), probs=np.full((3,), 0.4), fold_probs=np.full((2, 3), 0.4)), "y_true must be a non-empty (examples, labels) array of 0 and 1 (got int64 of shape (3,))"),
    ]  # fmt: skip
    for task, given, message in cases:
        with pytest.raises(BadFile) as err:
            read.check_predictions(P, given, 2, task)
        assert str(err.value) == f"{P}: {message}", task


def test_check_predictions_edges_of_labels_and_probabilities():
    # a multi-label run with one label: its y_true holds 1, which is no class index out of range
    one = {"y_true": np.array([[1], [0], [1]]), "probs": np.full((3, 1), 0.5), "fold_probs": np.full((2, 3, 1), 0.5)}
    read.check_predictions(P, label_sets(**one), 2, "multilabel")
    read.check_predictions(P, arrays(probs=np.full((3, 3), 1 + 1e-3), fold_probs=np.full((2, 3, 3), 1 + 1e-3)), 2)
    read.check_predictions(P, arrays(), 2)  # the default task is multiclass: class indices within probs' columns
    with pytest.raises(BadFile) as err:
        read.check_predictions(P, arrays(y_true=np.array([0, 1, 3])), 2)
    assert str(err.value) == f"{P}: y_true holds class 3; allowed: 0 .. 2"


def test_read_summary_refuses_a_summary_linked_from_outside(tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps({"status": "completed"}))
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").symlink_to(outside)
    for strict in (True, False):
        with pytest.raises(BadFile) as err:
            read.read_summary(run, strict)
        assert str(err.value) == f"{run / 'summary.json'}: a link that leads outside {run}; not followed"


def test_a_run_dir_without_summary_reads_as_unknown_and_nothing_else(tmp_path):
    s = read.read_summary(tmp_path, strict=False)
    assert (s.status, s.error, s.extra) == ("unknown", "no summary.json", {})
    assert s.to_dict() == {"status": "unknown", "error": "no summary.json", "folds": []}


@pytest.fixture
def live_pid():
    """A process of ours that is running (started now)."""
    import subprocess

    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_run_died_only_for_a_running_run_of_this_host_whose_process_is_gone(live_pid):
    host, gone = socket.gethostname(), 2**22 + 12345
    running = {"status": "running", "host": host, "started_at": "2026-01-01T00:00:00"}
    assert read.run_died({**running, "pid": gone}) is True
    assert read.run_died({**running, "pid": gone, "host": host + "-other"}) is False  # another host's: not known
    assert read.run_died({**running, "pid": gone, "status": "completed"}) is False
    assert read.run_died({**running, "pid": gone, "status": "completed", "host": host + "-other"}) is False
    assert read.run_died({**running, "pid": True}) is False  # a bool is no pid
    assert read.run_died({**running, "pid": str(gone)}) is False
    assert read.run_died({**running, "pid": None}) is False
    # a live process is the run's when it started before the run did, or when the start is unknown
    assert read.run_died({**running, "pid": live_pid, "started_at": "2999-01-01T00:00:00"}) is False
    assert read.run_died({**{k: v for k, v in running.items() if k != "started_at"}, "pid": live_pid}) is False
    assert read.run_died({**running, "pid": live_pid, "started_at": "not a date"}) is False
    assert read.run_died({**running, "pid": live_pid, "started_at": 17}) is False
    # a process that started after the run did reuses the pid: the run's own process is gone
    assert read.run_died({**running, "pid": live_pid, "started_at": "2020-01-01T00:00:00"}) is True


def test_fold_scores_are_float64_and_a_refusal_lists_every_score(tmp_path):
    folds = [{"fold": 0, "val_accuracy": 1, "val_loss": 2.0, "auc": 0.5}, {"fold": 1, "val_accuracy": 0, "auc": 0.7}]
    run = read.load_run(summary(tmp_path, status="completed", folds=folds))
    scores = run.fold_scores("val_accuracy")
    assert scores.dtype == np.float64 and scores.tolist() == [1.0, 0.0]
    with pytest.raises(KoptError) as err:
        run.fold_scores("val_loss")  # missing from fold 1
    assert str(err.value) == f"--metric val_loss: not a per-fold score of {tmp_path}; allowed: auc, val_loss"
    empty = read.RunDir(tmp_path, read.read_summary(summary(tmp_path, status="completed", folds=[])))
    with pytest.raises(KoptError) as err:
        empty.fold_scores("auc")
    assert str(err.value) == f"--metric auc: not a per-fold score of {tmp_path}; allowed: "


def completed_run(tmp_path, **npz) -> read.RunDir:
    np.savez(tmp_path / "predictions.npz", **npz)
    return read.load_run(summary(tmp_path, status="completed", folds=[{"fold": 0}, {"fold": 1}]))


def test_predictions_name_a_missing_array(tmp_path):
    run = completed_run(tmp_path, **{k: v for k, v in arrays().items() if k != "test_idx"})
    with pytest.raises(BadFile) as err:
        run.predictions  # noqa: B018
    assert str(err.value) == f"{tmp_path / 'predictions.npz'}: missing array(s) test_idx"
    assert completed_run(tmp_path, **arrays()).predictions["test_idx"].tolist() == [5, 6, 7]


def test_predictions_linked_from_outside_the_run_are_refused(tmp_path):
    np.savez(tmp_path / "outside.npz", **arrays())
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "predictions.npz").symlink_to(tmp_path / "outside.npz")
    run = read.load_run(summary(run_dir, status="completed", folds=[{"fold": 0}, {"fold": 1}]))
    with pytest.raises(BadFile) as err:
        run.predictions  # noqa: B018
    assert str(err.value) == f"{run_dir / 'predictions.npz'}: a link that leads outside {run_dir}; not followed"
