"""Run a study end to end: open or resume it, run trials (in this process, or in
``tuner.n_workers`` worker processes), then write the study dir's reports and retrain the best."""

from __future__ import annotations

import time
from pathlib import Path

from kopt.console import console
from kopt.errors import RunFailed
from kopt.tune.planning.plan import TunePlan
from kopt.tune.results.artifacts import attach_trial_curves
from kopt.tune.results.best import write_best_yaml
from kopt.tune.results.curves import draw_trial_curves
from kopt.tune.results.page import StudyPage
from kopt.tune.results.report import trial_row, trial_rows, write_plots, write_progress
from kopt.tune.running.loop import sigterm_raises, work
from kopt.tune.running.study import quiet_optuna, start_study
from kopt.tune.running.ui import TuneUI


def finalize(study, plan: TunePlan, study_dir: Path, spec: str, started: float, ui: TuneUI) -> dict:
    from kopt.paths import config_groups

    drawn = draw_trial_curves(study_dir)  # (a trial draws none: kopt.tune.results.curves)
    attach_trial_curves(study, study_dir, drawn)  # for optuna-dashboard
    summary = write_progress(study_dir, study, plan, spec, time.time() - started)
    if summary["best_trial"] is None:
        return summary
    from kopt.tune.results import pareto  # several objectives: the front (pareto.csv, .png, pareto/) and its retrains

    best = pareto.best_of(study, plan)
    extra: dict = {"best_config": "best.yaml"}
    write_best_yaml(study_dir, plan, best, config_groups())
    if plan.tuner.get("plots", True) and not plan.tuner.get("objectives"):  # (pareto.png instead)
        extra["plots"] = write_plots(study_dir, study, plan)
        for name, state in extra["plots"].items():
            if state != "ok":  # e.g. importances below their minimum number of completed trials
                console.print(f"[dim]plots/{name}: {state}[/]")
    if plan.tuner.get("retrain_best", True):
        from kopt.tune.results.retrain import retrain_best

        console.print(f"[dim]retraining trial {best.number} on train+val ...[/]")
        try:
            retrain = retrain_best(plan, best, study_dir)
            extra.update(retrain=retrain, test_accuracy=retrain["test_accuracy"], test_loss=retrain["test_loss"])
        except RunFailed as exc:
            extra["retrain"] = {"trial": best.number, "error": str(exc)}
    if plan.tuner.get("objectives"):
        extra["pareto"] = pareto.finish(study, plan, study_dir, best)
    return write_progress(study_dir, study, plan, spec, time.time() - started, extra)


def _mlflow_logger(plan: TunePlan):
    """The trials' ``logger`` node when it is MLflow, else None."""
    from omegaconf import OmegaConf

    node = next(iter(plan.bases.values()), {}).get("logger") or {}
    return OmegaConf.create(node) if node.get("name") == "mlflow" else None


def _finish_mlflow(logger, summary: dict, study_dir: Path) -> None:
    """The study's MLflow run: results and the best model (the retrain's, else the best trial's)."""
    from kopt.mlflow_study import finish_study

    retrain = summary.get("retrain") or {}
    best = (
        retrain.get("run_dir") if retrain.get("run_dir") and not retrain.get("error") else summary.get("best_run_dir")
    )
    try:
        finish_study(logger, summary, Path(study_dir) / best if best else None)
    except Exception as exc:
        console.print(f"kopt: warning: MLflow logging after the study failed: {type(exc).__name__}: {exc}")


def _interrupt_mlflow(logger, study_name: str) -> None:
    from kopt.mlflow_study import interrupt_study

    try:
        interrupt_study(logger, study_name)
    except Exception as exc:  # the study itself is saved; MLflow only loses its end status
        console.print(f"kopt: warning: MLflow: marking the study's run KILLED failed: {type(exc).__name__}: {exc}")


def run_study(plan: TunePlan, study_dir: Path) -> dict:
    """Raises RunFailed when no trial completed or tuner.max_failures stopped the search (after
    writing the reports), Interrupted on Ctrl-C/SIGTERM."""
    quiet_optuna()
    started = time.time()
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    study, spec, recovered = start_study(plan, study_dir)
    if int(plan.tuner.get("n_workers", 1)) == 1:  # load TensorFlow before the live display starts
        from kopt.backend import study_backend
        from kopt.runtime import import_tensorflow

        import_tensorflow(
            any(b.get("trainer", {}).get("verbose") for b in plan.bases.values()), study_backend(plan.bases)
        )
    logger = _mlflow_logger(plan)
    if logger is not None:  # the study's parent run, before any trial (or worker) nests in it
        from kopt.mlflow_study import study_run

        study_run(logger, plan.study_name, reopen=True)
    ui = TuneUI(plan, study_dir)
    ui.start([trial_row(t) for t in study.get_trials(deepcopy=False)], recovered)
    stopped: RunFailed | None = None
    page = StudyPage(study_dir)  # study.html: refreshed in the background, written once more at the end

    def progress(*_):
        write_progress(study_dir, study, plan, spec, time.time() - started)
        page.refresh()

    def trial_done(frozen):
        rows = trial_rows(study)
        ui.trial_finished(trial_row(frozen), rows)
        progress()

    try:
        if int(plan.tuner.get("n_workers", 1)) > 1:
            from kopt.tune.running.workers import run_workers

            with sigterm_raises():  # SIGTERM is passed on to the workers, like Ctrl-C
                run_workers(plan, study, spec, study_dir, started, ui, on_poll=progress)
        else:
            work(study, plan, study_dir, started, ui=ui, on_trial=trial_done)
    except RunFailed as exc:
        stopped = exc
    except KeyboardInterrupt:
        ui.stop()
        progress()
        draw_trial_curves(study_dir)
        if logger is not None:
            _interrupt_mlflow(logger, plan.study_name)
        raise
    finally:
        ui.stop()
    summary = finalize(study, plan, study_dir, spec, started, ui)
    page.write()
    if logger is not None:
        _finish_mlflow(logger, summary, study_dir)
    ui.final(summary)
    if stopped is not None:
        raise stopped
    if summary["best_trial"] is None:
        raise RunFailed(f"no trial completed in study '{plan.study_name}'; see {study_dir / 'trials.csv'}")
    return summary
