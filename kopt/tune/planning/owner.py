"""A study dir's own records: which study it belongs to, ``study.json`` (the storage, the study
name, and the id kopt gave the study when it created it), and the study's plan, ``plan.json`` (for
people and their tools; workers read the plan from the storage). A study dir never takes the
trials of another study of the same name: one made in another storage, or made again after
``journal.log`` was deleted."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from kopt.errors import KoptError
from kopt.tune.planning.record import PLAN_FILE, TunePlan
from kopt.tune.store.storage import OWNER

UID = "kopt.study_id"  # study user attribute: a random id, set once when kopt creates the study


def storage_label(spec: str, study_dir: Path) -> str:
    """The storage as recorded: a URL without its password; a journal file relative to the study
    dir when it is inside it (the study dir can then be moved)."""
    if "://" in spec:
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", spec)
    path, folder = Path(spec).expanduser().resolve(), Path(study_dir).resolve()
    return str(path.relative_to(folder)) if folder in path.parents else str(path)


def study_id(study) -> str:
    """The study's kopt id, set now if it has none (a new study, or one made before kopt kept ids)."""
    value = study.user_attrs.get(UID)
    if not value:
        value = uuid.uuid4().hex
        study.set_user_attr(UID, value)
    return str(value)


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_owner(study_dir: Path, name: str, spec: str, stored) -> None:
    """Refuse ``study_dir`` when it holds another study's trials. ``stored`` is the study as the
    storage has it (None when the storage has no study of that name: a new study)."""
    from kopt.rundir import read_json

    study_dir = Path(study_dir)
    path = study_dir / OWNER
    record = None
    if path.is_file():
        try:
            record = read_json(path)
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict):
            record = {}
    uid = stored.user_attrs.get(UID) if stored is not None else None
    trials = study_dir / "trials"
    has_trials = trials.is_dir() and any(trials.iterdir())
    if record is None:  # a study dir from before kopt recorded its owner, or a new one
        foreign = stored is None and has_trials
    else:
        label = storage_label(spec, study_dir)
        foreign = (
            stored is None
            or (uid is not None and record.get("study_id") not in (None, uid))
            or (uid is None and record.get("storage") not in (None, label))
        )
    if foreign:
        where = _display(study_dir)
        owner = f" (study {record.get('study_name', '?')} in {record.get('storage', '?')})" if record else ""
        now = "a new study" if stored is None else "another study of that name"
        raise KoptError(
            f"{where} holds the trials of another study{owner}, and {storage_label(spec, study_dir)} "
            f"has {now}: its trials would overwrite them. To start fresh, choose a new "
            f"tuner.study_name, or remove {where}"
        )


def record_owner(study_dir: Path, study, spec: str) -> None:
    """Write ``study.json`` (atomically) unless it already says the same."""
    from kopt.rundir import atomic_write_json, read_json

    path = Path(study_dir) / OWNER
    record = {"study_name": study.study_name, "storage": storage_label(spec, study_dir), "study_id": study_id(study)}
    try:
        if read_json(path) == record:
            return
    except (OSError, ValueError):
        pass
    atomic_write_json(path, record)


def record_study_dir(study_dir: Path, study, plan: TunePlan, spec: str) -> None:
    """Write the study dir's ``plan.json`` and ``study.json`` (atomically)."""
    from kopt.rundir import atomic_write_text

    atomic_write_text(Path(study_dir) / PLAN_FILE, json.dumps(plan.to_attr(), sort_keys=True) + "\n")
    record_owner(study_dir, study, spec)
