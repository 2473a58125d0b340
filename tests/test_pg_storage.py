"""The throwaway PostgreSQL server holds an Optuna study that several processes share."""

from __future__ import annotations

import subprocess
import sys

import optuna

WORKER = """
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="s", storage=sys.argv[1])
study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
"""


def test_optuna_study_on_postgresql_is_shared_by_processes(pg_url):
    optuna.create_study(study_name="s", storage=pg_url)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, pg_url]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    study = optuna.load_study(study_name="s", storage=pg_url)
    assert len(study.get_trials(states=[optuna.trial.TrialState.COMPLETE])) == 6
    assert pg_url.startswith("postgresql://kopt@127.0.0.1:")
