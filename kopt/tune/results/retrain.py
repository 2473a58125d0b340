"""Retrain the best trial's config on train + val for the epochs its trial needed, and measure it
on the held-out test set (the same one as every trial's). The search itself never looks at the
test set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from kopt.rundir import COMPLETED, SUMMARY, TEST_ACCURACY, TEST_LOSS, read_summary
from kopt.tune.planning.plan import TunePlan
from kopt.tune.results.best import best_config

REFIT = "refit"


class Refit:
    """A splitter whose one fold trains on the whole pool (train + val) and has no validation
    data: a retrain run reports no val_* metrics, and chooses nothing on its own training data."""

    def split(self, X, y, groups=None):  # (make_splits passes the dataset's groups to every splitter)
        yield np.arange(len(y)), np.arange(0)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return 1


def register_refit() -> None:
    """Make ``split.name=refit`` known to kopt's splitter registry (an internal option, not a
    config group choice: a user-facing split keeps validation data apart)."""
    from kopt.data.splits import SPLITTERS

    SPLITTERS.setdefault(REFIT, lambda cfg, seed: Refit())


def retrain_epochs(trial, configured: int) -> tuple[int, str]:
    """The retrain's epoch count, fixed before it starts, and why (see docs/tune.md): the best
    trial's best epoch on its validation data (the mean over its folds), not scaled for the
    larger training set."""
    best = trial.user_attrs.get("best_epoch")
    if best:
        return int(best), (
            f"trial {trial.number}'s best epoch on its validation data (the mean over its folds, "
            "rounded), not scaled for the larger training set; the retrain keeps its last epoch"
        )
    return configured, f"trial {trial.number} recorded no best epoch: its trainer.epochs"


def retrain_config(plan: TunePlan, trial):
    cfg = best_config(plan, trial)
    epochs, _ = retrain_epochs(trial, int(cfg.trainer.epochs))
    test_size = float(cfg.split.get("test_size", 0.2))
    OmegaConf.update(cfg, "split", {"name": REFIT, "test_size": test_size}, merge=False)
    # the trial's learning-rate schedule, stopped at the chosen epoch (not squeezed into fewer epochs)
    OmegaConf.update(
        cfg, "optimizer.schedule.epochs", int(cfg.optimizer.schedule.get("epochs") or cfg.trainer.epochs), merge=False
    )
    OmegaConf.update(cfg, "trainer.epochs", epochs, merge=False)
    OmegaConf.update(cfg, "trainer.protocol", "fixed", merge=False)  # no data to choose an epoch on
    OmegaConf.update(cfg, "trainer.early_stopping.enabled", False, merge=False)
    return cfg


def retrain_best(plan: TunePlan, trial, study_dir: Path) -> dict:
    """Run (or reuse, when a completed one exists) ``retrain/<trial>/``; returns its key figures."""
    from kopt.mlflow_study import study_trial
    from kopt.training.run import run_train

    register_refit()
    rel = f"retrain/{trial.number}"
    run_dir = Path(study_dir) / rel
    previous = run_dir / SUMMARY
    summary = read_summary(run_dir).to_dict() if previous.exists() else None
    cfg = retrain_config(plan, trial)
    if summary is None or summary.get("status") != COMPLETED:
        from kopt.training.tbnames import tb_root

        for stale in (run_dir, tb_root(cfg, run_dir)):  # an unfinished retrain (killed): start it over
            if stale.exists():
                shutil.rmtree(stale)
        with study_trial(cfg.get("logger"), plan.study_name, trial.number, role="retrain"):  # MLflow: nested
            summary = run_train(cfg, run_dir, quiet=True)
    metrics = summary.get("metrics", {})
    trial_summary = Path(study_dir) / str(trial.user_attrs.get("run_dir", f"trials/{trial.number}")) / SUMMARY
    folds = read_summary(trial_summary.parent).folds if trial_summary.exists() else []
    return {
        "trial": trial.number,
        "epochs": int(cfg.trainer.epochs),
        "epochs_reason": retrain_epochs(trial, int(cfg.trainer.epochs))[1],
        "trial_best_epochs": [f.get("best_epoch") for f in folds],
        "protocol": "fixed",
        "run_dir": rel,
        "test_accuracy": metrics.get(TEST_ACCURACY),
        "test_loss": metrics.get(TEST_LOSS),
        # every test score the retrain logged (a regression's test_mae and test_rmse, a binary task's test_auc)
        "test": {k: v for k, v in metrics.items() if k.startswith("test_") and not k.endswith("_std")},
    }
