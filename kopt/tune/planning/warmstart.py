"""``tuner.enqueue`` (configs to try first) and ``tuner.warm_start`` (the finished trials of an
earlier study, copied into a new one). Both are checked when the plan is built, before TensorFlow
loads; :func:`apply` acts on the opened study, once (a resumed study is not seeded twice).

Copied trials keep their values and measures, and point to their run dirs in the earlier study
(``warm_start_from``: ``<storage>#<study>#<trial>``). They do not use up ``tuner.n_trials``: the
study runs ``n_trials`` new trials on top of them.
"""

from __future__ import annotations

from pathlib import Path

from kopt.errors import KoptError
from kopt.tune.planning.space import Dist

FROM_ATTR = "warm_start_from"  # a copied trial's user attribute
ENQUEUED_ATTR = "enqueued"  # an enqueued trial's user attribute: its index in tuner.enqueue
DEFAULTS_ATTR = "auto_trial0"  # tuner=auto's trial 0 (the config's own values): true
NOT_COPIED = (ENQUEUED_ATTR, DEFAULTS_ATTR, "retry_of", "worker", FROM_ATTR)  # how the earlier study came by a trial


def inside(dist: Dist, value) -> bool:
    """Whether ``value`` is one ``dist`` can draw (within the bounds, on its step)."""
    if dist.kind == "categorical":
        return value in dist.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not dist.low <= value <= dist.high:
        return False
    if dist.kind == "int":
        return float(value).is_integer() and (int(value) - int(dist.low)) % int(dist.step or 1) == 0
    if dist.step:
        n = (value - dist.low) / dist.step
        return abs(n - round(n)) < 1e-6
    return True


def optuna_distribution(dist: Dist):
    """The Optuna distribution that :meth:`Dist.suggest` draws from."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dist.kind == "categorical":
        return CategoricalDistribution(list(dist.choices))
    if dist.kind == "int":
        return IntDistribution(int(dist.low), int(dist.high), step=int(dist.step or 1), log=dist.log)
    return FloatDistribution(float(dist.low), float(dist.high), step=dist.step, log=dist.log)


def check_enqueue(plan) -> list[dict]:
    """``tuner.enqueue``: a list of {parameter: value}, each parameter one of the search space's
    (as Optuna names it: ``model.width``), each value one it can draw."""
    items = plan.tuner.get("enqueue") or []
    params = {p.name: p.dist for p in plan.space.params}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item:
            raise KoptError(
                f"tuner.enqueue[{i}]={item!r}: must be a mapping of searched parameters to values, "
                f"e.g. {{{next(iter(params))}: ...}}"
            )
        for key, value in item.items():
            if key not in params:
                raise KoptError(f"tuner.enqueue[{i}].{key}: not a searched parameter; allowed: {', '.join(params)}")
            if not inside(params[key], value):
                raise KoptError(f"tuner.enqueue[{i}].{key}={value!r}: outside search.{key}={params[key].expr}")
    return items


# -- the earlier study -------------------------------------------------------------------------


def source_of(text: str) -> tuple[str, str]:
    """(storage spec, study name) of ``tuner.warm_start``: a study dir (its study.json), or
    ``<storage>#<study name>``."""
    from kopt.rundir import read_json
    from kopt.tune.planning.owner import OWNER
    from kopt.tune.store.storage import JOURNAL

    if "#" in text:
        spec, _, name = text.rpartition("#")
        return spec, name
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise KoptError(
            f"tuner.warm_start={text}: no such study dir; allowed: a study dir (runs/tune/<study>) "
            "or <storage>#<study name>"
        )
    record = {}
    if (folder / OWNER).is_file():
        try:
            record = read_json(folder / OWNER)
        except (OSError, ValueError):
            record = {}
    storage = str(record.get("storage") or JOURNAL)
    if "://" not in storage and not Path(storage).is_absolute():
        storage = str(folder / storage)
    return storage, str(record.get("study_name") or folder.name)


def sqlite_file(spec: str) -> Path | None:
    """The file of a ``sqlite:///<path>`` URL (None for other storages and an in-memory database)."""
    if not spec.startswith("sqlite:///"):
        return None
    path = spec[len("sqlite:///") :].split("?", 1)[0]
    return Path(path).expanduser() if path and path != ":memory:" else None


def storage_file(spec: str) -> Path | None:
    """The file a storage lives in: a journal file, or a SQLite database; None for a server."""
    return Path(spec).expanduser() if "://" not in spec else sqlite_file(spec)


def load_source(text: str):
    """(the earlier study, its plan)."""
    import optuna

    from kopt.tune.planning.record import TunePlan, stored_plan
    from kopt.tune.store.storage import open_storage, quiet_optuna

    quiet_optuna()
    spec, name = source_of(text)
    path = storage_file(spec)
    if path is not None and not path.is_file():  # (opening a SQLite URL would create an empty database)
        raise KoptError(f"tuner.warm_start={text}: {spec} does not exist")
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(spec))
    except KeyError:
        raise KoptError(f"tuner.warm_start={text}: no study {name!r} in {spec}") from None
    stored = stored_plan(study)
    if stored is None:
        raise KoptError(f"tuner.warm_start={text}: not a kopt tune study (no plan stored)")
    return study, TunePlan.from_attr(stored)


def _objectives(plan) -> list[tuple[str, str]]:
    from kopt.schemas.objectives import parse_objectives

    return parse_objectives(plan.tuner.get("objectives")) or [(plan.metric, plan.direction)]


def finished(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]


def check_warm_start(plan) -> None:
    """Refuse an earlier study whose space differs: other parameters, or finished trials whose values
    the new space cannot draw (each named), or other objectives."""
    text = plan.tuner.get("warm_start")
    if not text:
        return
    study, old = load_source(str(text))
    new_params = {p.name: p.dist for p in plan.space.params}
    old_names = {p.name for p in old.space.params}
    differ = sorted(set(new_params) ^ old_names)
    if differ:
        raise KoptError(
            f"tuner.warm_start={text}: its search space has other parameters: "
            + ", ".join(
                f"{n} ({'only in the earlier study' if n in old_names else 'only in this one'})" for n in differ
            )
        )
    if _objectives(old) != _objectives(plan):
        raise KoptError(
            f"tuner.warm_start={text}: its objectives {_objectives(old)} differ from this study's {_objectives(plan)}"
        )
    outside = {}
    for t in finished(study):
        for name, value in t.params.items():
            if name in new_params and not inside(new_params[name], value) and name not in outside:
                outside[name] = f"{name}={value!r} (trial {t.number}) outside {new_params[name].expr}"
    if outside:
        raise KoptError(f"tuner.warm_start={text}: parameters differ: " + "; ".join(outside.values()))


def check_not_itself(plan, spec: str) -> None:
    """Refuse ``tuner.warm_start`` naming the study it would seed (``spec``: this study's storage): its
    trials would be copied into it again (and listed twice on the Pareto front)."""
    text = plan.tuner.get("warm_start")
    if not text:
        return
    source, name = source_of(str(text))
    if name != plan.study_name:
        return
    here, there = storage_file(spec), storage_file(source)
    same = here.resolve() == there.resolve() if here is not None and there is not None else source == spec
    if same:
        raise KoptError(
            f"tuner.warm_start={text}: that is this study ({plan.study_name}) itself; allowed: an earlier study "
            "(its study dir or <storage>#<study name>), or run the same command without tuner.warm_start to resume it"
        )


def apply(study, plan, created: bool = True) -> int:
    """Copy the earlier study's finished trials (once) and enqueue ``tuner.enqueue`` (once), or
    tuner=auto's trial 0 (only into a study with no trial yet: never on resume, nor by a second
    ``kopt tune`` joining it); then ``plan.n_trials`` counts the copies on top. Returns the number of
    copied trials in the study.

    ``created``: whether this process created the study. Only its creator adds these: two ``kopt
    tune`` started at once on a new study could both see it empty and both add them."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    first = plan.tuner.get("auto", {}).get("trial0")
    if first and not trials and created:
        study.enqueue_trial(dict(first), user_attrs={DEFAULTS_ATTR: True})
    copied = [t for t in trials if FROM_ATTR in t.user_attrs]
    text = plan.tuner.get("warm_start")
    if text and not copied and created:
        source, _ = load_source(str(text))
        dists = {p.name: p.dist for p in plan.space.params}
        label = "#".join(source_of(str(text)))
        for t in finished(source):
            attrs = {**{k: v for k, v in t.user_attrs.items() if k not in NOT_COPIED}, FROM_ATTR: f"{label}#{t.number}"}
            study.add_trial(
                optuna.trial.create_trial(
                    params=dict(t.params),
                    distributions={k: optuna_distribution(dists[k]) for k in t.params},
                    values=list(t.values),
                    user_attrs=attrs,
                    state=optuna.trial.TrialState.COMPLETE,
                    system_attrs={k: v for k, v in t.system_attrs.items() if k.split(":")[0] == "constraints"},
                )
            )
        copied = [t for t in study.get_trials(deepcopy=False) if FROM_ATTR in t.user_attrs]
    if plan.tuner.get("enqueue") and created and not any(ENQUEUED_ATTR in t.user_attrs for t in trials):
        for i, item in enumerate(plan.tuner["enqueue"]):
            study.enqueue_trial(dict(item), user_attrs={ENQUEUED_ATTR: i})
    plan.n_trials += len(copied)
    return len(copied)
