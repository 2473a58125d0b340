"""`kopt train` end to end, as a subprocess: the run-dir contract, k-fold, seeds, multirun, signals."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest
from conftest import TINY, TINY_DATA, only_run_dir, read_summary, run_kopt, run_python, start_kopt

CONTRACT_KEYS = {"status", "metrics", "folds", "params", "duration_s", "seed", "versions"}


def test_holdout_run_writes_the_contract(tmp_path):
    proc = run_kopt("train", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    assert run.name[:4].isdigit() and len(run.name.split("_")) == 3  # YYYY-mm-dd_HH-MM-SS_ffffff
    assert (run / ".hydra" / "config.yaml").is_file() and (run / ".hydra" / "overrides.yaml").is_file()
    assert (run / "train.log").is_file()
    summary = read_summary(run)
    assert summary.keys() >= CONTRACT_KEYS
    assert summary["status"] == "completed"
    assert set(summary["versions"]) >= {"python", "tensorflow", "keras", "kopt"}
    for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss"):
        assert 0 <= summary["metrics"][key] < 100
    assert len(summary["folds"]) == 1 and 1 <= summary["folds"][0]["best_epoch"] <= 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert summary["monitor"] == "val_accuracy"  # trainer.monitor=auto: the classes' own
    kept = max(rows, key=lambda r: (r["val_accuracy"], -r["epoch"]))  # the first of the best
    assert summary["folds"][0]["best_epoch"] == kept["epoch"]
    for row in rows:
        assert {"fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time_s"} <= row.keys()
    with np.load(run / "predictions.npz", allow_pickle=False) as z:
        assert z["probs"].shape == (40, 10) and z["y_true"].shape == (40,)
        np.testing.assert_allclose(z["probs"].sum(axis=1), 1.0, atol=1e-4)
        acc = float((z["probs"].argmax(1) == z["y_true"]).mean())
    assert acc == pytest.approx(summary["metrics"]["test_accuracy"], abs=1e-6)
    with np.load(run / "splits.npz", allow_pickle=False) as z:
        test, train, val = set(z["test"]), set(z["train_0"]), set(z["val_0"])
    assert not (test & train) and not (test & val) and not (train & val)
    assert len(test | train | val) == 200
    # the model loads in plain Keras (kopt not imported) with safe_mode on
    load = (
        "import sys; sys.modules['kopt'] = None; "
        "import keras, numpy as np; m = keras.saving.load_model(%r, safe_mode=True); "
        "print(m.predict(np.zeros((2, 8, 8, 1)), verbose=0).shape)"
    ) % str(run / "model.keras")
    out = run_python("-c", load, cwd=run, timeout=300)
    assert "(2, 10)" in out.stdout, out.stderr[-2000:]


def test_kfold_gives_k_models_and_fold_means(tmp_path):
    proc = run_kopt("train", *TINY, "split=kfold", "split.k=3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    summary = read_summary(run)
    assert [f["fold"] for f in summary["folds"]] == [0, 1, 2]
    for key in ("val_accuracy", "test_accuracy", "test_loss"):
        assert summary["metrics"][key] == pytest.approx(np.mean([f[key] for f in summary["folds"]]))
        assert key + "_std" in summary["metrics"]
    assert sorted(p.name for p in run.glob("model_fold*.keras")) == [f"model_fold{i}.keras" for i in range(3)]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sorted({r["fold"] for r in rows}) == [0, 1, 2]
    with np.load(run / "predictions.npz", allow_pickle=False) as z:
        assert z["fold_probs"].shape == (3, 40, 10)
        np.testing.assert_allclose(z["probs"], z["fold_probs"].mean(axis=0), atol=1e-6)
    with np.load(run / "splits.npz", allow_pickle=False) as z:
        vals = [set(z[f"val_{i}"]) for i in range(3)]
        assert not (vals[0] & vals[1]) and not (vals[1] & vals[2])
        assert len(set().union(*vals)) == 160 and not (set(z["test"]) & set().union(*vals))
    assert "mean" in proc.stdout


def test_same_seed_gives_identical_metrics(tmp_path):
    metrics = []
    for i in range(2):
        cwd = tmp_path / str(i)
        cwd.mkdir()
        proc = run_kopt("train", *TINY_DATA, "model=cnn", "model.width=4", "model.dense=8", "seed=3", cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        summary = read_summary(only_run_dir(cwd))
        metrics.append((summary["metrics"], [f["best_epoch"] for f in summary["folds"]]))
    assert metrics[0] == metrics[1]


def test_multirun_writes_one_dir_per_job(tmp_path):
    proc = run_kopt("train", "-m", *TINY, "seed=0,1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sweeps = list((tmp_path / "runs" / "multirun").iterdir())
    assert len(sweeps) == 1
    jobs = sorted(p.name for p in sweeps[0].iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    seeds = [read_summary(sweeps[0] / j)["seed"] for j in jobs]
    assert seeds == [0, 1]


def test_sigterm_marks_run_interrupted(tmp_path):
    proc = start_kopt("train", *TINY, "trainer.epochs=200", "dataset.size=2000", cwd=tmp_path)  # forked where it can be
    deadline = time.time() + 240
    metrics = None
    while time.time() < deadline:
        found = list((tmp_path / "runs" / "train").glob("*/metrics.jsonl")) if (tmp_path / "runs").exists() else []
        if found and found[0].read_text().count("\n") >= 2:
            metrics = found[0]
            break
        time.sleep(0.2)
    assert metrics is not None, "training never reached epoch 2"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    summary = read_summary(metrics.parent)
    assert summary["status"] == "interrupted"
    assert metrics.read_text().count("\n") >= 2  # finished epochs survive
