"""Every tuner and every pruner on 3-4 tiny trials, run in this process (TensorFlow loads once):
the study loop, pruning steps across folds, failures, and the live output."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import optuna
import pytest
from conftest import TINY

from kopt.commands.tune import quote_search_overrides, validate_tune
from kopt.compose import compose_and_validate, search_dirs
from kopt.errors import RunFailed
from kopt.tune.planning.plan import build_plan

# separable classes, so that a learning rate of 1e-9 stays at chance while 1e-2 learns
EASY = [*TINY, "dataset.noise=0.3", "tuner.retrain_best=false", "tuner.plots=false"]
NUMERIC = ["search.optimizer.lr=tag(log, interval(1e-3, 1e-1))", "search.model.width=int(interval(8, 32))"]
GOOD_AND_BAD = ["tuner=grid", "search.optimizer.lr=choice(1e-2, 1e-9)", "search.model.width=choice(8, 16)"]


@pytest.fixture(autouse=True)
def no_study_page_nor_curves(monkeypatch):
    """Neither study.html nor the trials' curves.png: no test here reads them, and a study's results never
    depend on them (a figure or page that fails is a warning). test_lean_trials tests both. Each study
    started a fresh `kopt report` process (~3 CPU s; at the study's end, on a busy machine, up to 10 s
    waited for it), then drew a figure per trial and wrote the page (~0.5 CPU s per trial)."""
    import kopt.tune.run
    from kopt.tune.results.page import StudyPage

    monkeypatch.setattr(StudyPage, "refresh", lambda self: False)
    monkeypatch.setattr(StudyPage, "write", lambda self: None)
    monkeypatch.setattr(kopt.tune.run, "draw_trial_curves", lambda study_dir: {})


def tune_here(tmp_path: Path, monkeypatch, *overrides: str):
    """Plan and run a study as `kopt tune` does (without the Hydra app); returns (summary, study, dir)."""
    from kopt.tune.run import run_study
    from kopt.tune.store.storage import open_storage

    monkeypatch.chdir(tmp_path)
    argv = quote_search_overrides([*EASY, "tuner.study_name=s", *overrides])
    line, cfgs = compose_and_validate(argv, "tune", [validate_tune])
    plan = build_plan(cfgs[0], line.overrides, search_dirs(None))
    study_dir = tmp_path / "runs" / "tune" / "s"
    summary = run_study(plan, study_dir)
    study = optuna.load_study(study_name="s", storage=open_storage(str(study_dir / "journal.log")))
    return summary, study, study_dir


def read_csv(study_dir: Path) -> list[dict]:
    with open(study_dir / "trials.csv") as fh:
        return list(csv.DictReader(fh))


def finished(summary) -> int:
    return summary["counts"]["COMPLETE"] + summary["counts"]["PRUNED"]


@pytest.mark.parametrize(
    "tuner, extra, sampler_class",
    [
        ("random", [], "RandomSampler"),
        ("bayes", ["tuner.n_startup_trials=2"], "TPESampler"),  # the third trial is a TPE draw
        ("cmaes", [], "CmaEsSampler"),
        ("genetic", ["tuner.population_size=2"], "NSGAIISampler"),  # the third trial is a child
        ("qmc", [], "QMCSampler"),
        ("gp", ["tuner.n_startup_trials=2"], "GPSampler"),
    ],
)
def test_each_tuner_runs_three_trials(tmp_path, monkeypatch, tuner, extra, sampler_class):
    if tuner == "gp" and importlib.util.find_spec("torch") is None:
        pytest.skip("tuner=gp needs PyTorch (the optional 'gp' extra), which is not installed here")
    # one epoch: what is checked is the sampler's draws and each trial's record, not the training
    summary, study, study_dir = tune_here(
        tmp_path, monkeypatch, f"tuner={tuner}", "tuner.n_trials=3", "pruner=none", "trainer.epochs=1", *NUMERIC, *extra
    )
    assert summary["sampler_class"] == sampler_class and summary["counts"]["COMPLETE"] == 3
    trials = study.get_trials()
    assert len(trials) == 3
    for t in trials:
        assert 1e-3 <= t.params["optimizer.lr"] <= 1e-1 and 8 <= t.params["model.width"] <= 32
        run = json.loads((study_dir / t.user_attrs["run_dir"] / "summary.json").read_text())
        assert run["status"] == "completed" and run["metrics"]["val_accuracy"] == pytest.approx(t.value)
        cfg = (study_dir / t.user_attrs["run_dir"] / ".hydra" / "config.yaml").read_text()
        assert f"width: {t.params['model.width']}" in cfg
    assert len({(t.params["optimizer.lr"], t.params["model.width"]) for t in trials}) == 3


@pytest.mark.parametrize(
    "pruner, extra, n_trials, must_prune",
    [
        ("median", ["pruner.n_startup_trials=1"], 4, True),
        ("percentile", ["pruner.n_startup_trials=1", "pruner.percentile=50"], 4, True),
        ("successive_halving", ["pruner.min_resource=1", "pruner.reduction_factor=2"], 4, True),
        ("hyperband", ["pruner.reduction_factor=2", "tuner.n_trials=3"], 3, False),
        ("patient", ["pruner.patience=0", "pruner.n_startup_trials=1", "tuner.n_trials=3"], 3, False),
    ],
)
def test_each_pruner_on_a_small_grid(tmp_path, monkeypatch, pruner, extra, n_trials, must_prune):
    """A 2 x 2 grid of a good and a hopeless learning rate; the grid also stops exactly at its size
    (or at a smaller tuner.n_trials), each point once."""
    summary, study, study_dir = tune_here(
        tmp_path, monkeypatch, f"pruner={pruner}", "tuner.n_trials=50", *GOOD_AND_BAD, *extra
    )
    assert summary["pruner"] == pruner and summary["grid_size"] == 4
    assert finished(summary) == n_trials and len(study.trials) == n_trials
    points = {(t.params["optimizer.lr"], t.params["model.width"]) for t in study.trials}
    assert len(points) == n_trials and points <= {(lr, w) for lr in (1e-2, 1e-9) for w in (8, 16)}
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    if must_prune:
        assert pruned, [(t.params, t.intermediate_values) for t in study.trials]
    rows = {int(r["number"]): r for r in read_csv(study_dir)}
    for t in study.trials:
        assert t.intermediate_values, t.number  # the validation metric was reported every epoch
        if t.state.name == "PRUNED":
            epoch = t.user_attrs["pruned_epoch"]
            assert max(t.intermediate_values) == epoch  # stopped right where it was pruned (step = epoch)
            assert rows[t.number]["state"] == "PRUNED" and rows[t.number]["pruned_epoch"] == str(epoch)
            run = json.loads((study_dir / t.user_attrs["run_dir"] / "summary.json").read_text())
            assert run["status"] == "pruned" and run["pruned_epoch"] == epoch and "error" not in run


def test_failing_trials_are_recorded_and_max_failures_stops(tmp_path, monkeypatch):
    with pytest.raises(RunFailed, match=r"stopped after 2 failed trials \(tuner.max_failures=2\); last: NaN"):
        tune_here(
            tmp_path,
            monkeypatch,
            "optimizer=sgd",
            "tuner=random",
            "tuner.n_trials=5",
            "tuner.max_failures=2",
            "search.optimizer.lr=tag(log, interval(1e30, 1e31))",
        )
    rows = read_csv(tmp_path / "runs" / "tune" / "s")
    assert [r["state"] for r in rows] == ["FAIL", "FAIL"]
    assert all("NaN/inf loss" in r["fail_reason"] for r in rows)
    summary = json.loads((tmp_path / "runs" / "tune" / "s" / "summary.json").read_text())
    assert summary["counts"]["FAIL"] == 2 and summary["best_trial"] is None


def test_live_output_on_a_terminal(monkeypatch, tmp_path):
    """The TTY path (progress bars + leaderboard) renders every event without error."""
    from rich.console import Console

    import kopt.tune.running.ui as ui_mod

    plan = build_plan(*_composed(monkeypatch, tmp_path, "tuner.n_trials=2", *NUMERIC))
    console = Console(force_terminal=True, width=160, record=True, file=open(tmp_path / "out.txt", "w"))
    monkeypatch.setattr(ui_mod, "console", console)
    monkeypatch.setattr(ui_mod, "is_tty", lambda: True)
    ui = ui_mod.TuneUI(plan, tmp_path)
    ui.start([])
    ui.trial_started(0, {"optimizer.lr": 0.01, "model.width": 8}, 2)
    ui.epoch(0, 0, 1, 1, 2, {"loss": 1.0, "val_accuracy": 0.5})
    row = {
        "number": 0,
        "state": "COMPLETE",
        "value": 0.75,
        "duration_s": 1.5,
        "params": {"model.width": 8},
        "pruned_epoch": None,
        "fail_reason": None,
    }
    ui.trial_finished(row, [row])
    ui.stop()
    ui.final(
        {
            "study_name": "s",
            "metric": "val_accuracy",
            "best_trial": 0,
            "best_value": 0.75,
            "best_params": {"model.width": 8},
            "counts": {"COMPLETE": 1},
            "storage": "x",
        }
    )
    text = console.export_text()
    assert "leaderboard" in text and "0.7500" in text and "model.width=8" in text and "rerun best" in text


def _composed(monkeypatch, tmp_path, *overrides):
    monkeypatch.chdir(tmp_path)
    line, cfgs = compose_and_validate(quote_search_overrides([*EASY, *overrides]), "tune", [validate_tune])
    return cfgs[0], line.overrides, search_dirs(None)


@pytest.mark.parametrize(
    "overrides, population",
    [
        ([], 4),  # the default budget: 20 trials = 5 generations of 4
        (["tuner.n_trials=100"], 20),
        (["tuner.n_trials=1000"], 50),  # Optuna's default once the budget allows it
        (["tuner.n_trials=6", "tuner.crossover=undx"], 3),  # never fewer than the crossover's parents
        (["tuner.population_size=10"], 10),  # an explicit population is kept
    ],
)
def test_genetic_population_follows_the_budget(overrides, population):
    from kopt.tune.planning.tuners import build_sampler

    argv = quote_search_overrides(["tuner=genetic", *NUMERIC, *overrides])
    line, cfgs = compose_and_validate(argv, "tune", [validate_tune])
    plan = build_plan(cfgs[0], line.overrides, search_dirs(None))
    sampler = build_sampler(plan)
    assert sampler._population_size == population
    if not overrides:  # the default runs the initial population and at least 4 offspring generations
        assert plan.n_trials // population - 1 >= 4


def test_retrain_trains_the_best_trials_epoch_count_and_reports_no_validation(tmp_path, monkeypatch):
    """Issues 16.8 and 14.8: the retrain on train+val has no validation data, so it chooses no epoch
    (it keeps the last of the best trial's best epoch, fixed in advance) and reports no val_*.
    The same k-fold study without a pruner reports its steps across the folds, and its trials and
    retrain leave no traced train graph behind."""
    from kopt.report.collect import read_record as load_run
    from kopt.runtime import _gradient_registry

    before = set(_gradient_registry())
    summary, study, study_dir = tune_here(
        tmp_path,
        monkeypatch,
        "tuner=random",
        "tuner.n_trials=2",
        "pruner=none",
        "split=kfold",
        "split.k=2",
        "trainer.epochs=4",
        *NUMERIC,
        "tuner.retrain_best=true",
    )
    assert summary["counts"] == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 0, "RUNNING": 0}
    for t in study.trials:
        assert sorted(t.intermediate_values) == list(range(1, 9))  # fold * epochs + epoch (from 1), 2 folds x 4 epochs
    # TensorFlow's gradient registry keeps every traced train graph (~15 MiB each) unless trials clean it
    leaked = [k for k in set(_gradient_registry()) - before if k.startswith("CustomGradient-")]
    assert leaked == []
    retrain = summary["retrain"]
    best = study.best_trial
    folds = json.loads((study_dir / best.user_attrs["run_dir"] / "summary.json").read_text())["folds"]
    assert retrain["trial"] == best.number and retrain["trial_best_epochs"] == [f["best_epoch"] for f in folds]
    assert retrain["epochs"] == best.user_attrs["best_epoch"] == max(1, round(sum(retrain["trial_best_epochs"]) / 2))
    assert "best epoch" in retrain["epochs_reason"] and "not scaled" in retrain["epochs_reason"]
    run_dir = study_dir / retrain["run_dir"]
    from omegaconf import OmegaConf

    # stopped early on the trial's learning-rate schedule, not a schedule squeezed into fewer epochs
    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").optimizer.schedule.epochs == 4
    run = json.loads((run_dir / "summary.json").read_text())
    assert run["protocol"] == "fixed" and run["metrics"]["test_accuracy"] == summary["test_accuracy"]
    (fold,) = run["folds"]
    assert fold["best_epoch"] == fold["epochs_run"] == retrain["epochs"]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == retrain["epochs"]
    for where in (run["metrics"], fold, *rows, load_run(run_dir).metrics):
        assert not [k for k in where if k.startswith("val_")], where


@pytest.mark.parametrize("logged, kept", [(("val_accuracy", "val_loss"), 2), (("val_loss",), 3)])
def test_the_wilcoxon_callback_reads_an_auto_monitor_as_the_run_does(logged, kept):
    """trainer.monitor=auto in a trial (a copy of its trainer node, resolved nowhere): the fold's kept epoch
    is the best val_accuracy where the fold logs it, else the lowest val_loss, as the run's own BestEpoch."""
    from types import SimpleNamespace

    from kopt.tune.running.trial import FoldPruningCallback

    reports = []
    trial = SimpleNamespace(report=lambda value, step: reports.append((value, step)), should_prune=lambda: False)
    callback = FoldPruningCallback(trial, "val_mae", 0, {"monitor": "auto"}, {})
    epochs = [  # the best accuracy at epoch 2, the lowest loss at epoch 3; val_mae tells the epoch apart
        {"val_accuracy": 0.5, "val_loss": 2.0, "val_mae": 1.0},
        {"val_accuracy": 0.9, "val_loss": 1.5, "val_mae": 2.0},
        {"val_accuracy": 0.7, "val_loss": 1.0, "val_mae": 3.0},
    ]
    for epoch, logs in enumerate(epochs):
        callback.on_epoch_end(epoch, {k: v for k, v in logs.items() if k in (*logged, "val_mae")})
    callback.on_train_end()
    assert reports == [(float(kept), 0)]


def test_the_retrain_line_shows_the_studys_own_test_score():
    from kopt.tune.running.ui import retrain_score

    scores = {"test_mae": 1.5, "test_accuracy": None, "test_loss": 2.5}
    assert retrain_score("val_mae", scores) == ("test_mae", 1.5)
    assert retrain_score("val_loss", scores) == ("test_loss", 2.5)
    assert retrain_score("params", {"test_accuracy": 0.9, "test_loss": 0.3}) == ("test_accuracy", 0.9)
    assert retrain_score("val_auc", {"test_accuracy": None, "test_loss": None}) is None


def test_kfold_trials_report_one_value_per_fold_to_the_wilcoxon_pruner(tmp_path, monkeypatch):
    """pruner=auto on k-fold (Wilcoxon): each trial reports its folds' values, one per finished fold at the
    fold's step, each the fold's kept epoch as summary.json records it (it reported every epoch: steps 1-4)."""
    summary, study, study_dir = tune_here(
        tmp_path, monkeypatch, "split=kfold", "split.k=2", "tuner=random", "tuner.n_trials=2", *NUMERIC
    )
    assert summary["pruner"] == "wilcoxon" and summary["counts"]["COMPLETE"] == 2
    for t in study.trials:
        run = json.loads((study_dir / t.user_attrs["run_dir"] / "summary.json").read_text())
        folds = {f["fold"]: f["val_accuracy"] for f in run["folds"]}
        assert t.intermediate_values == pytest.approx(folds) and sorted(folds) == [0, 1]
