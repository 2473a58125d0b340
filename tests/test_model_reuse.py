"""kopt.training.reuse: the folds after a k-fold run's first train its compiled model (its steps traced
once per run), each from exactly the state a fresh model of its own would start from. The run with the
model kept equals the run that builds and compiles one per fold, to the bit, across the switches that
hold state (batch-norm statistics, dropout seeds, a schedule, EMA weights, accumulated gradients)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TINY
from test_sound_training import SMALLEST

from kopt.compose import compose_and_validate
from kopt.validate import validate_train


def _run(overrides: list[str], run_dir, monkeypatch, keep: bool) -> dict:
    from kopt.training import reuse
    from kopt.training.run import run_train

    traced = []
    real_take = reuse.KeptModel.take

    def take(self, fresh, optimizer, key):
        kept = real_take(self, fresh, optimizer, key)
        traced.append(kept is None)
        return kept

    with monkeypatch.context() as m:
        m.setattr(reuse.KeptModel, "take", take)
        if not keep:
            m.setattr(reuse, "reusable", lambda strategy: False)
        cfg = compose_and_validate(overrides, "config", validators=[validate_train])[1][0]
        summary = run_train(cfg, run_dir, quiet=True)
    assert summary["status"] == "completed"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("time_s", None)
        row.pop("duration_s", None)
        row.pop("timestamp", None)
    import keras

    weights = [
        [w for w in keras.saving.load_model(p, compile=False).get_weights()]
        for p in sorted(run_dir.glob("model_fold*.keras"))
    ]
    with np.load(run_dir / "predictions.npz") as z:
        probs = z["fold_probs"]
    return {"rows": rows, "weights": weights, "probs": probs, "fresh_models": traced}


STATEFUL = ["regularizer=l2", "regularizer.dropout=0.3", "optimizer.schedule.name=cosine"]  # batch norm, dropout
SWITCHES = ["optimizer.ema=0.9", "optimizer.accumulate=2", "trainer.label_smoothing=0.1"]


@pytest.mark.parametrize(
    "model, extra",
    [*((SMALLEST[family], STATEFUL) for family in sorted(SMALLEST)), (SMALLEST["cnn"], SWITCHES)],
    ids=[*(f"{family}-bn-dropout-cosine" for family in sorted(SMALLEST)), "cnn-ema-accumulate-smoothing"],
)
def test_the_kept_model_trains_each_fold_exactly_as_a_fresh_one(model, extra, tmp_path, monkeypatch):
    """Every model family of the zoo (the smallest of each, as test_sound_training builds them)."""
    overrides = [*TINY[:2], "dataset.size=120", "dataset.shape=[8,8,1]", *model, "split=kfold", "split.k=2"]
    overrides += ["trainer.epochs=1"]
    overrides += ["trainer.batch_size=16", *extra]  # (3 steps: accumulate=2 applies one update)
    kept = _run(overrides, tmp_path / "kept", monkeypatch, keep=True)
    fresh = _run(overrides, tmp_path / "fresh", monkeypatch, keep=False)
    assert kept["fresh_models"] == [True, False]  # compiled in fold 0 only; fold 1 kept it
    assert fresh["fresh_models"] == []  # (no model kept at all)
    assert kept["rows"] == fresh["rows"] and len(kept["rows"]) == 2
    np.testing.assert_array_equal(kept["probs"], fresh["probs"])
    assert len(kept["weights"]) == 2
    for a, b in zip(kept["weights"], fresh["weights"]):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_a_fold_with_another_step_count_compiles_its_own_model(tmp_path, monkeypatch):
    """An optimizer schedule is built from the steps per epoch, which the traced train step bakes in:
    folds of 53, 53 and 54 training rows in batches of 53 (1, 1 and 2 steps) do not all share a model."""
    overrides = [*TINY[:2], "dataset.size=100", *TINY[4:], "split=kfold", "split.k=3", "trainer.batch_size=53"]
    overrides += ["trainer.epochs=1", "optimizer.schedule.name=cosine"]
    kept = _run(overrides, tmp_path / "kept", monkeypatch, keep=True)
    fresh = _run(overrides, tmp_path / "fresh", monkeypatch, keep=False)
    with np.load(tmp_path / "kept" / "splits.npz") as z:
        assert [len(z[f"train_{k}"]) for k in range(3)] == [53, 53, 54]
    assert kept["fresh_models"] == [True, False, True]
    assert kept["rows"] == fresh["rows"]
    np.testing.assert_array_equal(kept["probs"], fresh["probs"])
