"""The study itself: create it or resume it (checking that a rerun has the same setup), or join
it from the storage alone (``kopt worker``). Its storage is kopt.tune.store.storage, recovery of
interrupted trials kopt.tune.trials.recovery, claiming trials kopt.tune.trials.claim and the worker loop
kopt.tune.running.loop.

Resume rules: ``n_trials`` is the study's total; finished trials are never re-run.
"""

from __future__ import annotations

from pathlib import Path

from kopt.errors import KoptError
from kopt.tune.planning.plan import TunePlan, store_plan, stored_plan
from kopt.tune.store.storage import open_storage, quiet_optuna, storage_spec  # noqa: F401 (quiet_optuna: its users)
from kopt.tune.trials.recovery import recover


def check_resume(plan: TunePlan, spec: str, study_dir: Path | None = None) -> None:
    """Before anything is written: if the study exists, it must have been made by the same setup;
    and the study dir must not hold another study's trials."""
    from kopt.tune.planning.owner import check_owner
    from kopt.tune.planning.warmstart import check_not_itself

    check_not_itself(plan, spec)
    study = None
    if "://" in spec or Path(spec).expanduser().is_file():  # else a new journal file: a new study
        import optuna  # (only then: `kopt tune --cfg job` of a new study stays quick)

        try:
            study = optuna.load_study(study_name=plan.study_name, storage=open_storage(spec))
        except KeyError:
            pass
    if study is not None:
        _check_same_plan(plan, study)
    if study_dir is not None:
        check_owner(study_dir, plan.study_name, spec, study)


def _check_same_plan(plan: TunePlan, study) -> None:
    stored = stored_plan(study)
    if stored is None and study.trials:
        raise KoptError(
            f"tuner.study_name={plan.study_name}: a study of that name exists in the storage but was "
            "not made by kopt tune; choose another tuner.study_name"
        )
    if stored is not None:
        diffs = plan.differences(TunePlan.from_attr(stored))
        if diffs:
            shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
            raise KoptError(
                f"tuner.study_name={plan.study_name} exists with a different setup: {shown}. "
                "Resume it with its original overrides, or choose a new tuner.study_name"
            )


def open_study(plan: TunePlan, storage, worker: int = 0):
    """Create the study, or load it and check that it was made by the same setup."""
    return _open_study(plan, storage, worker)[0]


def _open_study(plan: TunePlan, storage, worker: int = 0):
    """(the study, whether this call created it). Of several ``kopt tune`` started at once on a new
    study, exactly one creates it: the storage refuses a second study of the same name."""
    import optuna

    from kopt.tune.planning.pruners import build_pruner
    from kopt.tune.planning.tuners import build_sampler, past_trials

    created = False
    try:
        study = optuna.load_study(study_name=plan.study_name, storage=storage)
    except KeyError:
        from kopt.tune.planning.objectives import study_directions

        try:
            study = optuna.create_study(study_name=plan.study_name, storage=storage, **study_directions(plan))
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # another kopt tune created it meanwhile
            study = optuna.load_study(study_name=plan.study_name, storage=storage)
    _check_same_plan(plan, study)
    store_plan(study, plan)  # the tuner, pruner and n_trials may change on resume
    from kopt.tune.planning.objectives import metric_names

    study.set_metric_names(metric_names(plan))
    study.sampler = build_sampler(plan, worker, existing=past_trials(study.get_trials(deepcopy=False)))
    study.pruner = build_pruner(plan.pruner)
    return study, created


def start_study(plan: TunePlan, study_dir: Path):
    """What kopt tune does before its first trial: create or resume the study in its storage,
    write the study dir's plan.json and study.json (kopt tune checked before that the dir is this
    study's), and recover the trials an earlier run left. (study, storage spec, (failed, enqueued))."""
    from kopt.tune.planning.owner import record_study_dir
    from kopt.tune.planning.warmstart import check_not_itself

    spec = storage_spec(plan.tuner.get("storage"), study_dir)
    check_not_itself(plan, spec)  # (kopt tune checked it before; a study run from Python too)
    study, created = _open_study(plan, open_storage(spec, plan.tuner))
    auto_first = plan.tuner.get("auto", {}).get("trial0")  # tuner=auto's trial 0: the config's own values
    if plan.tuner.get("warm_start") or plan.tuner.get("enqueue") or auto_first:  # once per study
        from kopt.tune.planning import warmstart

        warmstart.apply(study, plan, created)
        store_plan(study, plan)
    record_study_dir(study_dir, study, plan, spec)
    return study, spec, recover(study, study_dir)


def load_study(storage, study_name: str, worker: int = 0):
    """Join an existing study: its plan (configs, search space, tuner) comes from the storage."""
    import optuna

    from kopt.tune.planning.pruners import build_pruner
    from kopt.tune.planning.tuners import build_sampler, past_trials

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise KoptError(f"tuner.study_name={study_name}: no such study in the storage") from None
    stored = stored_plan(study)
    if stored is None:
        raise KoptError(f"tuner.study_name={study_name}: not a kopt tune study (no plan stored)")
    plan = TunePlan.from_attr(stored)
    existing = past_trials(study.get_trials(deepcopy=False))
    study.sampler, study.pruner = build_sampler(plan, worker, existing), build_pruner(plan.pruner)
    return study, plan


def join_study(spec: str, study_name: str, study_dir: Path, worker: int = 0):
    """What a worker does before its first trial: join the study from its storage alone, refuse a
    study dir that holds another study's trials, and record the dir's study.json. (study, plan)"""
    from kopt.tune.planning.owner import check_owner, record_owner

    study, plan = load_study(open_storage(spec), study_name, worker=worker)
    if "://" in spec:  # heartbeats with the study's own settings, the same in every worker
        study, plan = load_study(open_storage(spec, plan.tuner), study_name, worker=worker)
    check_owner(study_dir, study_name, spec, study)  # never into another study's trials/
    record_owner(study_dir, study, spec)
    return study, plan
