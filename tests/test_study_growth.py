"""Issue 30 item 8 (benchmarks/study_growth.py): what kopt does after every trial must not grow with
the number of trials in the study. trials.csv is rewritten after every trial: each finished trial's
row and line are built once, not again after every later trial."""

from __future__ import annotations

import csv

import optuna
from conftest import TINY

from kopt.commands.tune import quote_search_overrides, validate_tune
from kopt.compose import compose_and_validate, search_dirs
from kopt.tune.planning.plan import build_plan
from kopt.tune.results import report


def test_trials_csv_builds_the_rows_of_new_trials_only(tmp_path, monkeypatch):
    """Before: write_progress built every trial's row and CSV line after every trial (on a
    1,000-trial study, with the fsync of the whole file, ~0.2 s per trial on the shared VM)."""
    from optuna.distributions import FloatDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import create_trial

    monkeypatch.chdir(tmp_path)
    overrides = [*TINY, "tuner=random", "tuner.study_name=s", "search.optimizer.lr=interval(1e-3, 1e-1)"]
    line, cfgs = compose_and_validate(quote_search_overrides(overrides), "tune", [validate_tune])
    plan = build_plan(cfgs[0], line.overrides, search_dirs(None))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    dist = {"optimizer.lr": FloatDistribution(1e-3, 1e-1)}
    for i in range(60):
        study.add_trial(create_trial(params={"optimizer.lr": 0.001 + i / 1000}, distributions=dist, value=i / 100))
    running = study.ask(dist)  # trial 60, RUNNING while the csv is written
    built: list[int] = []
    real = report.trial_row
    monkeypatch.setattr(report, "trial_row", lambda t: built.append(t.number) or real(t))

    report.write_progress(tmp_path, study, plan, "journal.log", 1.0)
    assert sorted(built) == list(range(61))
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert [r["state"] for r in rows[59:]] == ["COMPLETE", "RUNNING"]

    built.clear()
    study.tell(running, 0.25)
    study.add_trial(create_trial(params={"optimizer.lr": 0.09}, distributions=dist, value=0.75))
    report.write_progress(tmp_path, study, plan, "journal.log", 2.0)
    assert sorted(built) == [60, 61]  # before: all 62 trials again
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert len(rows) == 62
    assert (rows[59]["number"], rows[59]["state"], float(rows[59]["value"])) == ("59", "COMPLETE", 0.59)
    assert (rows[60]["state"], float(rows[60]["value"])) == ("COMPLETE", 0.25)  # no longer RUNNING
    assert (rows[61]["number"], float(rows[61]["value"]), float(rows[61]["params_optimizer.lr"])) == ("61", 0.75, 0.09)
    assert report.trial_rows(study) == [real(t) for t in study.get_trials(deepcopy=False)]
