"""model=custom under faults: a run of your own model stopped by SIGTERM and resumed equals the
uninterrupted run (the zoo's guarantee, tests/faults/test_train_faults.py)."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from conftest import only_run_dir, read_summary, run_kopt
from faultlib import SLOW, assert_close_rows, assert_same_metrics, interrupt, metric_rows, resume_command, start_kopt

pytestmark = pytest.mark.slow

EPOCHS = 4
MYNETS = """
import keras


def build(input_shape, num_outputs, width=8):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Dense(width, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_outputs)(x))
"""
CONFIG = [
    *(o for o in SLOW if not o.startswith("model")),
    "model=custom",
    "model._target_=mynets.build",
    "model.width=12",
    f"trainer.epochs={EPOCHS}",
    "seed=3",
]


def test_a_custom_model_resumed_after_sigterm_equals_the_uninterrupted_run(tmp_path):
    for name in ("reference", "resumed"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "mynets.py").write_text(MYNETS)
    proc = run_kopt("train", *CONFIG, cwd=tmp_path / "reference")
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = only_run_dir(tmp_path / "reference")

    cwd = tmp_path / "resumed"
    proc = start_kopt("train", *CONFIG, cwd=cwd)
    from faultlib import wait_for_rows

    wait_for_rows(proc, "runs/train/*/metrics.jsonl", cwd, 2)
    out, _ = interrupt(proc, signal.SIGTERM)
    run = only_run_dir(cwd)
    assert read_summary(run)["status"] == "interrupted"
    proc = run_kopt(*resume_command(out), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming" in proc.stdout
    summary, want = read_summary(run), read_summary(reference)
    assert summary["status"] == "completed" and summary["resumes"] == 1
    assert_same_metrics(summary["metrics"], want["metrics"])
    assert_close_rows(metric_rows(run / "metrics.jsonl"), metric_rows(reference / "metrics.jsonl"))
    with np.load(run / "predictions.npz") as a, np.load(reference / "predictions.npz") as b:
        np.testing.assert_allclose(a["fold_probs"], b["fold_probs"], atol=1e-6)
