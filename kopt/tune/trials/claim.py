"""Claiming the next trial: under one lock shared by every process of the study (a PostgreSQL
advisory lock, or a file lock in the study dir), recover dead workers' trials, count, and ask
Optuna for a trial only while the study holds fewer than ``n_trials`` COMPLETE + PRUNED ones."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import time
import warnings
from pathlib import Path

from kopt.tune.planning.plan import TunePlan
from kopt.tune.store import optuna_api
from kopt.tune.trials.recovery import recover_dead_workers, session_failures

FINISHED = ("COMPLETE", "PRUNED")


def state_counts(trials) -> dict[str, int]:
    counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


@contextlib.contextmanager
def claim_lock(study, study_dir: Path):
    """Processes sharing a study take turns to count trials and create the next one, so that
    together they create exactly n_trials: a PostgreSQL advisory lock (held across machines, and
    released by the server when a worker dies) on a PostgreSQL storage, else a file lock in the
    study dir (one machine)."""
    rdb = optuna_api.rdb_storage(study)
    if rdb is not None and rdb.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        key = int.from_bytes(hashlib.sha256(f"kopt.claim:{study.study_name}".encode()).digest()[:8], "big", signed=True)
        with rdb.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
        return
    path = Path(study_dir) / ".claim.lock"
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


STREAMS = "kopt.sampler_streams"  # study attribute: how many processes have drawn trials so far


def take_sampler_stream(study, plan: TunePlan, existing: int) -> None:
    """Under the claim lock, the first time this process draws a trial: it takes the study's next
    stream number, so processes started together (two ``kopt tune``, ``kopt worker`` array jobs)
    never share a sampler seed. A fresh study's first process takes stream 0: a single process
    draws what it always did, on every rerun."""
    from kopt.tune.planning.tuners import build_sampler

    if getattr(study, "_kopt_stream", None) is not None:
        return
    stream = int(study.user_attrs.get(STREAMS, 0))
    study.set_user_attr(STREAMS, stream + 1)
    study.sampler = build_sampler(plan, stream, existing)
    study._kopt_stream = stream


WAIT = "wait"
# Study.ask's warning on a storage with heartbeats, meant for scripts that skip Study.optimize
HEARTBEAT_WARNING = r"Heartbeat of storage is supposed to be used with Study\.optimize"


def claim(study, plan: TunePlan, study_dir: Path, since: float, times: dict | None = None):
    """The next trial to run; None when the study has enough (or the grid is used up); WAIT when
    it only has enough counting RUNNING trials and heartbeats are on: one of them may yet go stale
    and be retried, so the worker waits instead of leaving the study short. ``times`` (a dict)
    gets ``wait_s`` (waiting for the claim lock) and ``held_s`` (holding it)."""
    from kopt.training.signals import raise_if_received

    raise_if_received()  # a SIGTERM that library code swallowed earlier: no new trial
    times = {} if times is None else times
    asked = time.time()
    with claim_lock(study, study_dir):
        got = time.time()
        try:
            return _claim_locked(study, plan, study_dir, since)
        finally:
            times.update(wait_s=round(got - asked, 4), held_s=round(time.time() - got, 4))


def _claim_locked(study, plan: TunePlan, study_dir: Path, since: float):
    from optuna.trial import TrialState

    from kopt.tune.planning.tuners import past_trials
    from kopt.tune.trials.dedup import discount_duplicates, duplicate_count, repeat_cap, space_exhausted

    recover_dead_workers(study, study_dir)
    timeout = plan.tuner.get("timeout")
    if timeout and time.time() - since > timeout:
        return None
    trials = study.get_trials(deepcopy=False)
    counts = discount_duplicates(state_counts(trials), trials)  # repeats are drawn again
    if space_exhausted(plan, trials) or duplicate_count(trials) >= repeat_cap(plan.n_trials):
        return None
    if counts["COMPLETE"] + counts["PRUNED"] + counts["RUNNING"] >= plan.n_trials:
        waiting = counts["RUNNING"] and counts["COMPLETE"] + counts["PRUNED"] < plan.n_trials
        return WAIT if waiting and optuna_api.heartbeat_enabled(study) else None
    if plan.grid_size is not None and not counts.get("WAITING"):
        started = {t.system_attrs.get("grid_id") for t in trials if t.state != TrialState.WAITING}
        if len(started - {None}) >= plan.grid_size:
            return None
    if len(session_failures(trials, since)) >= plan.tuner["max_failures"]:
        return None
    take_sampler_stream(study, plan, past_trials(trials))
    with warnings.catch_warnings():  # kopt runs the heartbeat thread itself (see work())
        warnings.filterwarnings("ignore", HEARTBEAT_WARNING, UserWarning)
        trial = study.ask()
    if optuna_api.heartbeat_enabled(study):  # at once: a trial without one never goes stale
        optuna_api.record_heartbeat(study, trial)
    return trial
