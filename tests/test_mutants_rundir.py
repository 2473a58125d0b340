"""kopt.rundir's reader checks and JSON writer, message by message, on files written here (`make mutants`).
tests/test_rundir_contract.py checks the contract through kopt's commands."""

from __future__ import annotations

import json
import math
import socket
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
