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


def test_processes_opening_one_new_database_at_once_all_open_it(pg_server):
    """Several `kopt tune` or workers started together on a new database each create Optuna's tables:
    PostgreSQL refuses one of two concurrent CREATE TYPE with a duplicate key (pg_type_typname_nsp_index).
    kopt opens the storage again once the other process has created them: every opener gets it."""
    import threading

    from kopt.tune.store.storage import open_storage

    tuner = {"heartbeat_interval": 1, "grace_period": 3}
    for _ in range(3):  # a fresh database each round: the race is on its first tables
        url = pg_server.create_database()
        start = threading.Barrier(4)
        outcomes: list = []

        def opener(url=url, start=start, outcomes=outcomes):
            start.wait()
            try:
                outcomes.append(type(open_storage(url, tuner)).__name__)
            except Exception as exc:  # (what a process would have printed)
                outcomes.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=opener) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert outcomes == ["RDBStorage"] * 4, outcomes
