"""Several `kopt worker` processes on one PostgreSQL study: one is killed with SIGKILL mid-trial,
its trial goes stale (heartbeats), is failed and retried, and the study still ends with exactly
n_trials COMPLETE + PRUNED."""

from __future__ import annotations

import functools
import signal
import sys
from pathlib import Path

import optuna
from conftest import TINY_DATA, assert_clean_error, run_kopt, wait_for

sys.path.insert(0, str(Path(__file__).parent / "faults"))
import faultlib

N_TRIALS = 8
STUDY = "pgw"
TUNE = [
    *TINY_DATA,
    "dataset.size=300",
    "trainer.epochs=6",
    "model=mlp",
    "model.depth=1",
    "model.width=16",
    "tuner=random",
    "pruner=none",
    f"tuner.n_trials={N_TRIALS}",
    f"tuner.study_name={STUDY}",
    "tuner.heartbeat_interval=1",
    "tuner.grace_period=3",
    "tuner.retrain_best=false",
    "tuner.plots=false",
    "search.optimizer.lr=tag(log, interval(1e-3, 1e-1))",
]  # continuous: 8 distinct configs (none reused)


def load(url):
    """The study once kopt tune has created it (the storage opened as kopt opens it: kopt tune and this
    process may be the two creating Optuna's tables in the new database at once)."""
    from kopt.tune.store.storage import open_storage

    try:
        return optuna.load_study(study_name=STUDY, storage=open_storage(url))
    except KeyError:
        return None


def test_workers_share_a_postgresql_study_and_a_killed_workers_trial_is_retried(pg_url, tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tune_dir = tmp_path / "tune"
    tune_dir.mkdir()
    start = functools.partial(faultlib.start_kopt, merge_stderr=True)
    tune = start("tune", *TUNE, f"tuner.storage={pg_url}", cwd=tune_dir)
    study = wait_for(lambda: load(pg_url), 120, "kopt tune to create the study")
    workers = []
    for i in range(3):
        (tmp_path / f"w{i}").mkdir()
        # all forked from the preloaded server (faultlib.start_kopt), the tune too: none imports TensorFlow,
        # so all start alike and the workers share the study from its first trials
        workers.append(start("worker", f"tuner.storage={pg_url}", f"tuner.study_name={STUDY}", cwd=tmp_path / f"w{i}"))
    victim = workers[0]

    def victims_running_trial():
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if (t.user_attrs.get("worker") or {}).get("pid") == victim.pid and t.params:  # training
                return t
        return None

    killed = wait_for(victims_running_trial, 120, "the first worker to run a trial")
    victim.send_signal(signal.SIGKILL)
    outputs = [p.communicate(timeout=180)[0] for p in [tune, *workers]]
    assert victim.returncode == -signal.SIGKILL
    assert [p.returncode for p in [tune, *workers[1:]]] == [0, 0, 0], outputs

    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == N_TRIALS, [(t.number, t.state.name) for t in trials]
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    killed = study.trials[killed.number]
    assert killed.state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state.name in ("COMPLETE", "PRUNED"), retries
    assert retries[0].params == killed.params
    # each trial's run dir is on the machine (here: the folder) of the process that ran it
    dirs = [tmp_path / "tune" / "runs" / "tune" / STUDY] + [
        tmp_path / f"w{i}" / "runs" / "tune" / STUDY for i in (1, 2)
    ]
    ran = {int(d.name) for root in dirs if (root / "trials").is_dir() for d in (root / "trials").iterdir()}
    assert {t.number for t in finished} <= ran
    assert all((root / "trials").is_dir() and any((root / "trials").iterdir()) for root in dirs)  # all took trials


def test_worker_without_a_study_fails_with_one_line(pg_url, tmp_path):
    proc = run_kopt("worker", f"tuner.storage={pg_url}", "tuner.study_name=nope", cwd=tmp_path)
    assert_clean_error(proc, "tuner.study_name=nope", "no such study")
    assert not (tmp_path / "runs").exists()


def test_worker_needs_storage_and_study_name(tmp_path):
    proc = run_kopt("worker", "tuner.n_trials=3", cwd=tmp_path)
    assert_clean_error(proc, "tuner.n_trials=3", "allowed: tuner.storage")
