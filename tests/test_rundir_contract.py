"""The run-dir contract (kopt/rundir/): resume keeps every per-fold metric, and the one writer and
reader of summary.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY


def _fold(fold: int, metrics: dict):
    from kopt.training.run import FoldResult

    return FoldResult(fold, best_epoch=1, epochs_run=2, metrics=metrics, probs=np.full((5, 3), 1 / 3, "float32"),
                      duration_s=0.5)


@pytest.mark.parametrize("metrics", [
    {"val_accuracy": 0.5, "val_loss": 1.0, "test_accuracy": 0.4, "test_loss": 1.1, "test_top2_accuracy": 0.9},
    {"test_accuracy": 0.4, "test_loss": 1.1},  # no validation data (split=refit): no val_* at all
], ids=["extra_metric", "no_validation"])
def test_a_finished_fold_is_restored_with_every_metric(tmp_path, metrics):
    from kopt.training.checkpoint import CheckpointStore

    store = CheckpointStore(tmp_path)
    store.save_result(_fold(0, metrics))
    restored = store.load_result(0)
    assert restored is not None  # not set aside as corrupt (its fold is not trained again)
    assert restored.metrics == metrics


def test_a_resumed_run_keeps_a_new_per_fold_metric(tmp_path, monkeypatch):
    """A per-fold metric beyond the usual four survives an interruption after fold 0 and the resume."""
    import keras

    from kopt.compose import compose_and_validate
    from kopt.errors import Interrupted
    from kopt.training import run as run_module
    from kopt.validate import validate_train

    plain = run_module.test_metrics

    def with_top2(probs, y, penalty=0.0):
        top2 = np.argsort(probs, axis=1)[:, -2:]
        return {**plain(probs, y, penalty), "test_top2_accuracy": float((top2 == y[:, None]).any(axis=1).mean())}

    monkeypatch.setattr(run_module, "test_metrics", with_top2)

    class StopFold1(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            raise Interrupted(15)

    cfg = compose_and_validate([*TINY, "dataset.size=120", "dataset.shape=[4]", "split=kfold", "split.k=2",
                                "trainer.epochs=1", "trainer.checkpoint=false"], "config",
                               validators=[validate_train])[1][0]
    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        run_module.run_train(cfg, run, callbacks_factory=lambda fold, n: [StopFold1()] if fold == 1 else [], quiet=True)
    first = json.loads((run / "summary.json").read_text())
    assert first["status"] == "interrupted" and len(first["folds"]) == 1
    kept = first["folds"][0]["test_top2_accuracy"]

    summary = run_module.run_train(cfg, run, quiet=True, resume=True)
    assert summary["status"] == "completed" and summary["resumes"] == 1
    assert [f["fold"] for f in summary["folds"]] == [0, 1]
    assert summary["folds"][0]["test_top2_accuracy"] == kept  # the restored fold, not trained again
    assert "test_top2_accuracy" in summary["folds"][1]
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["folds"][0]["test_top2_accuracy"] == kept
