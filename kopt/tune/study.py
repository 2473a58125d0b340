"""The study: storage, create or resume, recovery of trials a dead process left RUNNING, and the
worker loop that claims trials until the study holds ``n_trials`` COMPLETE + PRUNED ones.

Resume rules: ``n_trials`` is the study's total. A RUNNING trial whose process is gone (kill -9)
is marked FAIL "interrupted" and its parameters are enqueued again (by the next run, or at once
by a worker of the same study on this host when there are no heartbeats); so is a trial that a
signal interrupted. Finished trials are never re-run.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import os
import signal
import socket
import time
import warnings
from pathlib import Path

from kopt.errors import KoptError, RunFailed, install_hint
from kopt.procs import process_alive
from kopt.tune.plan import TunePlan, store_plan, stored_plan

JOURNAL = "journal.log"
INTERRUPTED = "interrupted"
FINISHED = ("COMPLETE", "PRUNED")


def quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()  # to the run's log file
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*GridSampler.*")


# -- storage ------------------------------------------------------------------------------------

def storage_spec(storage: str | None, study_dir: Path) -> str:
    """The storage as the stock ``optuna`` CLI takes it: a URL, or a journal file path."""
    return str(Path(study_dir) / JOURNAL) if storage is None else str(storage)


def open_storage(spec: str, tuner: dict | None = None):
    """The storage behind ``spec``. With an RDB URL and a ``tuner`` node, running trials send
    heartbeats and a stale one (its worker died) is failed and enqueued again by
    RetryHeartbeatStaleTrialCallback. Journal storages have no heartbeats (Optuna 5): there
    :func:`recover` fails the trials of dead processes on this host instead."""
    from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

    if "://" not in spec:
        from kopt.tune.journal import check_journal

        check_journal(Path(spec).expanduser())  # a torn tail is cut off; a damaged middle is one line
    try:
        if "://" not in spec:
            path = Path(spec).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        if spec.startswith("redis"):
            return JournalStorage(JournalRedisBackend(spec))
        if tuner is None:
            return RDBStorage(spec)
        return RDBStorage(spec, heartbeat_interval=int(tuner.get("heartbeat_interval", 10)),
                          grace_period=int(tuner.get("grace_period", 30)),
                          heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                              max_retry=int(tuner.get("max_retry", 3))))
    except ImportError as exc:  # SQLAlchemy's driver for the URL's dialect (Optuna re-raises it)
        cause = exc if exc.name else (exc.__cause__ or exc.__context__ or exc)
        driver = getattr(cause, "name", None) or "database driver"
        hint = install_hint("distributed") if spec.startswith("postgres") else f"pip install {driver}"
        raise KoptError(f"tuner.storage={spec}: needs {driver}, which is not installed; {hint}") from None
    except Exception as exc:  # noqa: BLE001 - a bad URL, a server that is down
        detail = " ".join(str(exc).split())[:200]
        raise KoptError(f"tuner.storage={spec}: cannot open it ({type(exc).__name__}: {detail})") from None


def rdb_storage(storage):
    """The RDBStorage under Optuna's cache wrapper, or None for other storages."""
    from optuna.storages import RDBStorage

    inner = getattr(storage, "_backend", storage)
    return inner if isinstance(inner, RDBStorage) else None


def check_resume(plan: TunePlan, spec: str, study_dir: Path | None = None) -> None:
    """Before anything is written: if the study exists, it must have been made by the same setup;
    and the study dir must not hold another study's trials."""
    import optuna

    from kopt.tune.owner import check_owner

    study = None
    if "://" in spec or Path(spec).expanduser().is_file():  # else a new journal file: a new study
        try:
            study = optuna.load_study(study_name=plan.study_name, storage=open_storage(spec))
        except KeyError:
            pass
    if study is not None:
        _check_same_plan(plan, study)
    if study_dir is not None:
        check_owner(study_dir, plan.study_name, spec, study)


def trial_run_dir(study_dir: Path, number: int) -> Path:
    """A trial's run dir, absolute (the trial's ``run_dir`` attribute)."""
    return (Path(study_dir) / "trials" / str(number)).resolve()


def _check_same_plan(plan: TunePlan, study) -> None:
    stored = stored_plan(study)
    if stored is None and study.trials:
        raise KoptError(f"tuner.study_name={plan.study_name}: a study of that name exists in the storage but was "
                        "not made by kopt tune; choose another tuner.study_name")
    if stored is not None:
        diffs = plan.differences(TunePlan.from_attr(stored))
        if diffs:
            shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
            raise KoptError(f"tuner.study_name={plan.study_name} exists with a different setup: {shown}. "
                            "Resume it with its original overrides, or choose a new tuner.study_name")


def open_study(plan: TunePlan, storage, worker: int = 0):
    """Create the study, or load it and check that it was made by the same setup."""
    import optuna

    from kopt.tune.pruners import build_pruner
    from kopt.tune.samplers import build_sampler

    try:
        study = optuna.load_study(study_name=plan.study_name, storage=storage)
    except KeyError:
        study = optuna.create_study(study_name=plan.study_name, storage=storage, direction=plan.direction,
                                    load_if_exists=True)
    _check_same_plan(plan, study)
    store_plan(study, plan)  # the tuner, pruner and n_trials may change on resume
    study.set_metric_names([plan.metric])
    study.sampler = build_sampler(plan, worker, existing=len(study.get_trials(deepcopy=False)))
    study.pruner = build_pruner(plan.pruner)
    return study


def load_study(storage, study_name: str, worker: int = 0):
    """Join an existing study: its plan (configs, search space, tuner) comes from the storage."""
    import optuna

    from kopt.tune.pruners import build_pruner
    from kopt.tune.samplers import build_sampler

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise KoptError(f"tuner.study_name={study_name}: no such study in the storage") from None
    stored = stored_plan(study)
    if stored is None:
        raise KoptError(f"tuner.study_name={study_name}: not a kopt tune study (no plan stored)")
    plan = TunePlan.from_attr(stored)
    existing = len(study.get_trials(deepcopy=False))
    study.sampler, study.pruner = build_sampler(plan, worker, existing), build_pruner(plan.pruner)
    return study, plan


# -- recovery -----------------------------------------------------------------------------------

def set_attrs(study, number_or_trial, attrs: dict) -> None:
    import optuna

    trial = number_or_trial
    if isinstance(trial, int):
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, trial)
        trial = optuna.trial.Trial(study, trial_id)
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def _mark_run_dir_interrupted(run_dir: Path, reason: str) -> None:
    from kopt.rundir import SUMMARY, atomic_write_json, read_json

    path = run_dir / SUMMARY
    try:
        summary = read_json(path)
    except (OSError, ValueError):
        return
    if summary.get("status") == "running":
        summary.update(status="interrupted", error=reason)
        atomic_write_json(path, summary)


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
            _mark_run_dir_interrupted(Path(study_dir) / str(t.user_attrs.get("run_dir") or trial_run_dir(study_dir, t.number)), reason)
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
    from optuna.storages._heartbeat import is_heartbeat_enabled

    if is_heartbeat_enabled(study._storage):
        return requeue_interrupted(study)
    return recover(study, study_dir)[1]


# -- the worker loop ----------------------------------------------------------------------------

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
    rdb = rdb_storage(study._storage)
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


def retried_numbers(trials) -> set[int]:
    """Trials that heartbeats found stale (their worker died) and that were enqueued again."""
    return {n for t in trials for n in t.system_attrs.get("retry_history", ())}


def session_failures(trials, since: float) -> list:
    stale = retried_numbers(trials)
    return [t for t in trials if t.state.name == "FAIL" and t.datetime_start is not None
            and t.datetime_start.timestamp() >= since and t.number not in stale
            and not str(t.user_attrs.get("fail_reason", "")).startswith(INTERRUPTED)]


STREAMS = "kopt.sampler_streams"  # study attribute: how many processes have drawn trials so far


def take_sampler_stream(study, plan: TunePlan, existing: int) -> None:
    """Under the claim lock, the first time this process draws a trial: it takes the study's next
    stream number, so processes started together (two ``kopt tune``, ``kopt worker`` array jobs)
    never share a sampler seed. A fresh study's first process takes stream 0: a single process
    draws what it always did, on every rerun."""
    from kopt.tune.samplers import build_sampler

    if getattr(study, "_kopt_stream", None) is not None:
        return
    stream = int(study.user_attrs.get(STREAMS, 0))
    study.set_user_attr(STREAMS, stream + 1)
    study.sampler = build_sampler(plan, stream, existing)
    study._kopt_stream = stream


WAIT = "wait"
# Study.ask's warning on a storage with heartbeats, meant for scripts that skip Study.optimize
HEARTBEAT_WARNING = r"Heartbeat of storage is supposed to be used with Study\.optimize"
WAIT_POLL_S = 1.0


def claim(study, plan: TunePlan, study_dir: Path, since: float):
    """The next trial to run; None when the study has enough (or the grid is used up); WAIT when
    it only has enough counting RUNNING trials and heartbeats are on: one of them may yet go stale
    and be retried, so the worker waits instead of leaving the study short."""
    from optuna.storages._heartbeat import is_heartbeat_enabled
    from optuna.trial import TrialState

    from kopt.training.signals import raise_if_received
    from kopt.tune.dedup import discount_duplicates, space_exhausted

    raise_if_received()  # a SIGTERM that library code swallowed earlier: no new trial

    with claim_lock(study, study_dir):
        recover_dead_workers(study, study_dir)
        timeout = plan.tuner.get("timeout")
        if timeout and time.time() - since > timeout:
            return None
        trials = study.get_trials(deepcopy=False)
        counts = discount_duplicates(state_counts(trials), trials, plan.n_trials)  # repeats are drawn again
        if space_exhausted(plan, trials):
            return None
        if counts["COMPLETE"] + counts["PRUNED"] + counts["RUNNING"] >= plan.n_trials:
            waiting = counts["RUNNING"] and counts["COMPLETE"] + counts["PRUNED"] < plan.n_trials
            return WAIT if waiting and is_heartbeat_enabled(study._storage) else None
        if plan.grid_size is not None and not counts.get("WAITING"):
            started = {t.system_attrs.get("grid_id") for t in trials if t.state != TrialState.WAITING}
            if len(started - {None}) >= plan.grid_size:
                return None
        if len(session_failures(trials, since)) >= plan.tuner["max_failures"]:
            return None
        take_sampler_stream(study, plan, len(trials))
        with warnings.catch_warnings():  # kopt runs the heartbeat thread itself (see work())
            warnings.filterwarnings("ignore", HEARTBEAT_WARNING, UserWarning)
            trial = study.ask()
        if is_heartbeat_enabled(study._storage):  # at once: a trial without one never goes stale
            study._storage.record_heartbeat(trial._trial_id)
        return trial


@contextlib.contextmanager
def sigterm_raises():
    """SIGTERM between trials is handled like Ctrl-C (run_train does the same inside a trial), through
    the command's own handler, which also records the signal (see kopt.training.signals): one that
    library code swallows still stops the study."""
    from kopt.training.signals import raise_interrupted

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupted)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def finish(study, trial, outcome) -> None:
    from optuna.trial import TrialState

    set_attrs(study, trial, {**{k: v for k, v in outcome.attrs.items() if v is not None},
                             "duration_s": round(outcome.duration_s, 3)})
    if outcome.state == "COMPLETE":
        study.tell(trial, outcome.value)
    else:
        study.tell(trial, state=TrialState[outcome.state])


def work(study, plan: TunePlan, study_dir: Path, since: float, ui=None, on_trial=None) -> None:
    """Claim and run trials until there is nothing left to claim. Raises RunFailed when
    tuner.max_failures trials failed since ``since``; Interrupted on Ctrl-C/SIGTERM (the running
    trial is then marked FAIL "interrupted", so a rerun redoes it)."""
    from optuna.storages import fail_stale_trials
    from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled

    from kopt.runtime import import_tensorflow

    # TensorFlow's C++ start-up lines (oneDNN, CUDA) go to a buffer, shown only if the import fails
    import_tensorflow(any(b.get("trainer", {}).get("verbose") for b in plan.bases.values()))
    from kopt.tune.objective import Outcome, run_trial

    # Every trial ends with clear_session() + gc.collect() (several times: run_train does it per
    # fold). A full collection walks every live object, and TensorFlow's modules alone are ~400k
    # of them (~0.5 s per collection). Freezing what exists now (imported code, not trial objects)
    # leaves the collections only the trials' own objects to walk.
    gc.collect()
    gc.freeze()
    worker = {"host": socket.gethostname(), "pid": os.getpid()}
    with sigterm_raises():
        while True:
            if is_heartbeat_enabled(study._storage):
                fail_stale_trials(study)
            trial = claim(study, plan, study_dir, since)
            if trial is None:
                break
            if trial is WAIT:  # look again soon: the study is done as soon as the running trials end
                time.sleep(min(WAIT_POLL_S, study._storage.get_heartbeat_interval()))
                continue
            run_dir = str(trial_run_dir(study_dir, trial.number))
            set_attrs(study, trial, {"worker": worker, "run_dir": run_dir})
            started = time.time()
            try:
                with get_heartbeat_thread(trial._trial_id, study._storage):
                    outcome = run_trial(plan, trial, study_dir, ui)
            except KeyboardInterrupt as exc:
                signame = "SIGTERM" if getattr(exc, "exit_code", 130) == 143 else "SIGINT"
                finish(study, trial, Outcome("FAIL", None, time.time() - started,
                                             {"fail_reason": f"{INTERRUPTED} ({signame})", "run_dir": run_dir}))
                raise
            finish(study, trial, outcome)
            if on_trial is not None:
                on_trial(study._storage.get_trial(trial._trial_id))
        failures = session_failures(study.get_trials(deepcopy=False), since)
        if len(failures) >= plan.tuner["max_failures"]:
            last = failures[-1].user_attrs.get("fail_reason", "?")
            raise RunFailed(f"stopped after {len(failures)} failed trials (tuner.max_failures="
                            f"{plan.tuner['max_failures']}); last: {last}")
