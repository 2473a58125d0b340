"""One trial: sample parameters, build the train config, run ``kopt train`` in-process into
``trials/<number>/``, and turn the outcome into an Optuna state. TensorFlow is imported here."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import optuna
from omegaconf import OmegaConf

from kopt.errors import KoptError, RunFailed
from kopt.mlflow_study import study_trial
from kopt.rundir import atomic_write_text, mark_pruned
from kopt.schemas.metrics import AUTO, direction
from kopt.training.run import TrialMode, run_train
from kopt.tune.planning.objectives import (
    MEASURES_ATTR,
    before_training,
    is_multi,
    record_infeasible,
    set_constraints,
    trial_values,
)
from kopt.tune.planning.plan import TunePlan
from kopt.tune.results.best import hydra_value
from kopt.tune.trials.dedup import deterministic, find_duplicate, reused_attrs
from kopt.tune.trials.keep import keep_model_for
from kopt.tune.trials.recovery import trial_run_dir


@dataclass
class Outcome:
    state: str  # COMPLETE | PRUNED | FAIL
    value: float | list[float] | None = None  # a list with several objectives
    duration_s: float = 0.0
    attrs: dict = field(default_factory=dict)  # user attributes recorded on the trial


class PruningCallback(keras.callbacks.Callback):
    """What optuna_integration's KerasPruningCallback does, with a step that counts the epochs the
    trial has trained, across folds: epoch ``e`` (1-based, as in metrics.jsonl) of the fold at
    position ``fold`` (0-based) is step ``fold * epochs + e``; and a record of where it stopped."""

    def __init__(self, trial, monitor: str, fold: int, epochs: int, stopped: dict):
        super().__init__()
        self.trial, self.monitor, self.fold, self.epochs, self.stopped = trial, monitor, fold, epochs, stopped

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        step = self.fold * self.epochs + epoch + 1
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            self.stopped.update(pruned_epoch=epoch + 1, pruned_fold=self.fold, pruned_step=step)
            raise optuna.TrialPruned(f"pruned at epoch {epoch + 1} (fold {self.fold})")


class FoldPruningCallback(keras.callbacks.Callback):
    """For the Wilcoxon pruner: one report per finished fold, at the fold's step (its position,
    0-based), of the value the fold gives the trial (``plan.metric`` at the epoch the fold keeps, chosen
    as kopt.training.callbacks.BestEpoch chooses it). Optuna's WilcoxonPruner pairs the trial's steps
    with the best trial's as independent instances: a fold's epochs are not (each epoch of one fold
    as a step, a trial 0.001 worse at every epoch was pruned at the end of its first fold, p = 0.002)."""

    def __init__(self, trial, metric: str, fold: int, trainer: dict, stopped: dict):
        super().__init__()
        self.trial, self.metric, self.fold, self.stopped = trial, metric, fold, stopped
        self.monitor = str(trainer.get("monitor") or AUTO)  # auto: read from the first epoch's logs
        self.keep_last = trainer.get("protocol", "best_epoch") == "fixed"
        self.best: float | None = None
        self.value: float | None = None
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs = epoch + 1
        if self.monitor == AUTO:  # as kopt.schemas.metrics.resolve_monitor: accuracy where the run logs it
            self.monitor = "val_accuracy" if "val_accuracy" in logs else "val_loss"
        kept = logs.get(self.monitor)
        if not self.keep_last:
            if kept is None or not math.isfinite(float(kept)):
                return
            if self.best is not None and not (
                float(kept) > self.best if direction(self.monitor) == "maximize" else float(kept) < self.best
            ):
                return
            self.best = float(kept)
        value = logs.get(self.metric)
        self.value = float(value) if value is not None else None

    def on_train_end(self, logs=None):
        if self.value is None or not math.isfinite(self.value):
            return
        self.trial.report(self.value, self.fold)
        if self.trial.should_prune():
            self.stopped.update(pruned_epoch=self.epochs, pruned_fold=self.fold, pruned_step=self.fold)
            raise optuna.TrialPruned(f"pruned after fold {self.fold}")


def trial_callbacks(plan: TunePlan, trial, trainer: dict, stopped: dict, ui=None):
    """The trial's ``callbacks_factory`` for run_train: ``(fold, n_folds) -> [Keras callbacks]`` that
    report to the pruner (per epoch; per fold for the Wilcoxon pruner; none with several objectives)
    and show the epochs on the UI."""
    epochs = int(trainer["epochs"])

    def callbacks(fold: int, n_folds: int) -> list:
        extra = []
        if is_multi(plan.tuner):
            pass  # Optuna cannot prune a study with several objectives (Trial.report refuses)
        elif plan.pruner.get("name") == "wilcoxon":
            extra.append(FoldPruningCallback(trial, plan.metric, fold, trainer, stopped))
        else:
            extra.append(PruningCallback(trial, plan.metric, fold, epochs, stopped))
        if ui is not None:
            extra.append(EpochProgress(ui, trial.number, fold, n_folds, epochs))
        return extra

    return callbacks


class EpochProgress(keras.callbacks.Callback):
    def __init__(self, ui, number: int, fold: int, n_folds: int, epochs: int):
        super().__init__()
        self.ui, self.number, self.fold, self.n_folds, self.epochs = ui, number, fold, n_folds, epochs

    def on_epoch_end(self, epoch, logs=None):
        self.ui.epoch(self.number, self.fold, self.n_folds, epoch + 1, self.epochs, logs or {})


def _best_epoch(summary: dict) -> int | None:
    epochs = [f["best_epoch"] for f in summary.get("folds", []) if f.get("best_epoch")]
    return max(1, round(sum(epochs) / len(epochs))) if epochs else None


def run_trial(plan: TunePlan, trial, study_dir: Path, ui=None) -> Outcome:
    """Run one trial. Interrupted (Ctrl-C, SIGTERM) propagates; everything else becomes an Outcome."""
    t0 = time.time()
    run_dir = trial_run_dir(study_dir, trial.number)
    stopped: dict = {}
    attrs = {"run_dir": str(run_dir)}
    try:
        choices, values = plan.space.sample(trial)
        cfg = plan.trial_config(choices, values)
        # no wasted trials: a finished config is not trained again, where training is deterministic
        original = find_duplicate(trial) if deterministic(OmegaConf.to_container(cfg.trainer)) else None
        if original is not None:
            for key, value in original.constraints.items():  # (the samplers and the front read them)
                trial.set_constraint(key, value)
            value = list(original.values) if original.values and is_multi(plan.tuner) else original.value
            return Outcome(original.state.name, value, time.time() - t0, reused_attrs(original))
        # what a Hydra job records: the trial's overrides of its base config (kopt report reads them)
        overrides = [f"{g}={o}" for g, o in choices.items()] + [f"{k}={hydra_value(v)}" for k, v in values.items()]
        atomic_write_text(run_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(overrides)))
        # an interrupted trial is redone from scratch with the same parameters, never resumed:
        # no per-epoch checkpoints to write (or to leave behind in pruned trials)
        OmegaConf.update(cfg, "trainer.resumable", False, merge=False)
        if ui is not None:
            ui.trial_started(trial.number, trial.params, int(cfg.trainer.epochs))
        callbacks = trial_callbacks(plan, trial, OmegaConf.to_container(cfg.trainer, resolve=True), stopped, ui)

        costs, infeasible = before_training(plan, cfg)  # a constraint on the model's size: never trained
        set_constraints(trial, plan.tuner, costs)
        if infeasible:
            attrs.update(record_infeasible(run_dir, costs, infeasible))
            return Outcome("PRUNED", None, time.time() - t0, attrs)
        with study_trial(cfg.get("logger"), plan.study_name, trial.number):  # MLflow: a run nested in the study's
            # lean: validation only (no test set scored), no curves.png, the model only if the study keeps it
            mode = TrialMode(keep_model=keep_model_for(trial.study, plan.tuner, plan.metric))
            summary = run_train(cfg, run_dir, callbacks_factory=callbacks, quiet=True, trial=mode)
        attrs[MEASURES_ATTR], value = trial_values(plan, summary, costs)
        set_constraints(trial, plan.tuner, {k: v for k, v in attrs[MEASURES_ATTR].items() if k not in costs})
        attrs["best_epoch"] = _best_epoch(summary)
        if value is None:
            attrs["fail_reason"] = f"{plan.metric} is missing or not finite"
            return Outcome("FAIL", None, time.time() - t0, attrs)
        return Outcome("COMPLETE", value, time.time() - t0, attrs)
    except RunFailed as exc:
        if isinstance(exc.__cause__, optuna.TrialPruned):
            mark_pruned(run_dir, stopped)  # run_train recorded the TrialPruned exception as failed
            attrs.update(stopped)
            return Outcome("PRUNED", None, time.time() - t0, attrs)
        attrs["fail_reason"] = str(exc)
    except KoptError as exc:
        attrs["fail_reason"] = str(exc)
    except Exception as exc:
        attrs["fail_reason"] = f"{type(exc).__name__}: {exc}"
    return Outcome("FAIL", None, time.time() - t0, attrs)
