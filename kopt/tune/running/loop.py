"""The worker loop: claim a trial, run it (with heartbeats where the storage has them), record its
outcome; until there is nothing left to claim. SIGTERM between trials stops it like Ctrl-C, and
the running trial is then marked FAIL "interrupted", so a rerun redoes it."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import time
from pathlib import Path

from kopt.errors import RunFailed
from kopt.tune.planning.plan import TunePlan
from kopt.tune.store import optuna_api
from kopt.tune.trials.claim import WAIT, claim
from kopt.tune.trials.keep import prune_models
from kopt.tune.trials.recovery import INTERRUPTED, session_failures, set_attrs, trial_run_dir

WAIT_POLL_S = 1.0


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

    set_attrs(
        study,
        trial,
        {**{k: v for k, v in outcome.attrs.items() if v is not None}, "duration_s": round(outcome.duration_s, 3)},
    )
    if outcome.state == "COMPLETE":
        study.tell(trial, outcome.value)
    else:
        study.tell(trial, state=TrialState[outcome.state])


def work(study, plan: TunePlan, study_dir: Path, since: float, ui=None, on_trial=None, timeline=None) -> None:
    """Claim and run trials until there is nothing left to claim. Raises RunFailed when
    tuner.max_failures trials failed since ``since``; Interrupted on Ctrl-C/SIGTERM (the running
    trial is then marked FAIL "interrupted", so a rerun redoes it). ``timeline``
    (kopt.tune.running.timeline.Timeline) gets where the time went."""
    from kopt.tune.running.timeline import Timeline

    timeline = timeline or Timeline(None)
    from optuna.storages import fail_stale_trials

    from kopt.backend import study_backend
    from kopt.runtime import import_tensorflow

    # TensorFlow's C++ start-up lines (oneDNN, CUDA) go to a buffer, shown only if the import fails
    import_tensorflow(any(b.get("trainer", {}).get("verbose") for b in plan.bases.values()), study_backend(plan.bases))
    from kopt.tune.running.trial import Outcome, run_trial

    # Every trial ends with clear_session() + gc.collect() (several times: run_train does it per
    # fold). A full collection walks every live object, and TensorFlow's modules alone are ~400k
    # of them (~0.5 s per collection). Freezing what exists now (imported code, not trial objects)
    # leaves the collections only the trials' own objects to walk.
    gc.collect()
    gc.freeze()
    timeline.mark("tensorflow")
    worker = {"host": socket.gethostname(), "pid": os.getpid()}
    with sigterm_raises():
        while True:
            if optuna_api.heartbeat_enabled(study):
                fail_stale_trials(study)
            times: dict = {}
            trial = claim(study, plan, study_dir, since, times)
            claimed = time.time()
            if trial is None:
                timeline.mark("done", **times)
                break
            if trial is WAIT:  # look again soon: the study is done as soon as the running trials end
                timeline.mark("wait", **times)
                time.sleep(min(WAIT_POLL_S, optuna_api.heartbeat_interval(study)))
                continue
            run_dir = str(trial_run_dir(study_dir, trial.number))
            set_attrs(study, trial, {"worker": worker, "run_dir": run_dir})
            started, cpu = time.time(), time.process_time()
            try:
                with optuna_api.heartbeat_thread(study, trial):
                    outcome = run_trial(plan, trial, study_dir, ui)
            except KeyboardInterrupt as exc:
                signame = "SIGTERM" if getattr(exc, "exit_code", 130) == 143 else "SIGINT"
                finish(
                    study,
                    trial,
                    Outcome(
                        "FAIL",
                        None,
                        time.time() - started,
                        {"fail_reason": f"{INTERRUPTED} ({signame})", "run_dir": run_dir},
                    ),
                )
                raise
            ran, ran_cpu = time.time(), time.process_time()
            finish(study, trial, outcome)
            prune_models(study, plan.tuner, study_dir)  # the models of trials out of the top tuner.keep_models
            timeline.mark(
                "trial",
                trial=trial.number,
                state=outcome.state,
                **times,
                setup_s=round(started - claimed, 4),
                run_s=round(ran - started, 4),
                run_cpu_s=round(ran_cpu - cpu, 4),
                finish_s=round(time.time() - ran, 4),
            )
            if on_trial is not None:
                on_trial(optuna_api.frozen_trial(study, trial))
        failures = session_failures(study.get_trials(deepcopy=False), since)
        if len(failures) >= plan.tuner["max_failures"]:
            last = failures[-1].user_attrs.get("fail_reason", "?")
            raise RunFailed(
                f"stopped after {len(failures)} failed trials (tuner.max_failures="
                f"{plan.tuner['max_failures']}); last: {last}"
            )
