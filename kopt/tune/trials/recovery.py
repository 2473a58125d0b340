"""Recovery: trials that a dead process left RUNNING, or that a signal interrupted, are marked
FAIL "interrupted" and their parameters enqueued again (once). Finished trials are never re-run.

A RUNNING trial whose process is gone (kill -9) is found here for processes on this host (journal
storages have no heartbeats); on RDB storages with heartbeats Optuna's callback retries stale
trials on any host, and only the signal-interrupted ones are enqueued here.
"""

from __future__ import annotations

import socket
from pathlib import Path

from kopt.procs import process_alive
from kopt.rundir import INTERRUPTED, mark_interrupted
from kopt.tune.store import optuna_api


def trial_run_dir(study_dir: Path, number: int) -> Path:
    """A trial's run dir, absolute (the trial's ``run_dir`` attribute)."""
    return (Path(study_dir) / "trials" / str(number)).resolve()


def set_attrs(study, number_or_trial, attrs: dict) -> None:
    trial = optuna_api.trial_by_number(study, number_or_trial) if isinstance(number_or_trial, int) else number_or_trial
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def recover(study, study_dir: Path) -> tuple[list[int], list[int]]:
    """Fail the RUNNING trials of dead processes on this host, then enqueue again every trial
    failed by an interruption that has not been retried. Returns (failed, enqueued) numbers."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker") or {}
        if worker.get("host") == host and not process_alive(worker.get("pid"), t.datetime_start):
            reason = f"{INTERRUPTED}: its process ({worker.get('pid')}) died"
            set_attrs(study, t.number, {"fail_reason": reason})
            mark_interrupted(
                Path(study_dir) / str(t.user_attrs.get("run_dir") or trial_run_dir(study_dir, t.number)), reason
            )
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(t.number)
    return failed, requeue_interrupted(study)


def requeue_interrupted(study) -> list[int]:
    """Enqueue again every trial failed by an interruption (a signal, a dead process) that has not
    been retried yet; the numbers."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    enqueued = []
    for t in trials:
        reason = str(t.user_attrs.get("fail_reason", ""))
        if t.state == TrialState.FAIL and reason.startswith(INTERRUPTED) and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            enqueued.append(t.number)
    return enqueued


def recover_dead_workers(study, study_dir: Path) -> list[int]:
    """While the study runs: the trials of dead workers on this host, FAIL "interrupted" and
    enqueued again (the numbers). With heartbeats (PostgreSQL storages) stale trials are
    retried by Optuna's heartbeat callback instead, on any host; only the trials that a signal
    interrupted (a worker's SLURM job cancelled, Ctrl-C) are enqueued again here."""
    if optuna_api.heartbeat_enabled(study):
        return requeue_interrupted(study)
    return recover(study, study_dir)[1]


def retried_numbers(trials) -> set[int]:
    """Trials that heartbeats found stale (their worker died) and that were enqueued again."""
    return {n for t in trials for n in t.system_attrs.get("retry_history", ())}


def session_failures(trials, since: float) -> list:
    stale = retried_numbers(trials)
    return [
        t
        for t in trials
        if t.state.name == "FAIL"
        and t.datetime_start is not None
        and t.datetime_start.timestamp() >= since
        and t.number not in stale
        and not str(t.user_attrs.get("fail_reason", "")).startswith(INTERRUPTED)
    ]
