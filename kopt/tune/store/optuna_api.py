"""The one place where kopt touches Optuna's private API (attributes and modules whose names
start with ``_``). Written for the Optuna versions in :data:`SUPPORTED`; tests/test_optuna_api.py
fails on an Optuna outside that range and exercises every function here against the installed one.

Everything else in kopt uses Optuna's public API, or these functions.
"""

from __future__ import annotations

SUPPORTED = ((5, 0), (6, 0))  # [lowest, highest) (major, minor) these functions were written for


def supported(version: str) -> bool:
    """Whether an Optuna version string (``"5.0.0"``, ``"5.1.0.dev0"``) is in :data:`SUPPORTED`."""
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        parts.append(int(digits) if digits else 0)
    low, high = SUPPORTED
    return low <= tuple(parts) < high


def trial_by_number(study, number: int):
    """A live ``optuna.Trial`` for the trial ``number`` of ``study`` (to set its attributes)."""
    import optuna

    return optuna.trial.Trial(study, study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number))


def frozen_trial(study, trial):
    """The stored (frozen) copy of a live trial, as it is now."""
    return study._storage.get_trial(trial._trial_id)


def rdb_storage(study_or_storage):
    """The RDBStorage under Optuna's cache wrapper, or None for other storages."""
    from optuna.storages import RDBStorage

    inner = getattr(study_or_storage, "_storage", study_or_storage)
    inner = getattr(inner, "_backend", inner)
    return inner if isinstance(inner, RDBStorage) else None


def study_system_attrs(study) -> dict:
    return study._storage.get_study_system_attrs(study._study_id)


def set_study_system_attr(study, key: str, value) -> None:
    study._storage.set_study_system_attr(study._study_id, key, value)


# -- heartbeats (RDB storages) ----------------------------------------------------------------


def heartbeat_enabled(study) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(study._storage)


def heartbeat_interval(study) -> float:
    return study._storage.get_heartbeat_interval()


def record_heartbeat(study, trial) -> None:
    study._storage.record_heartbeat(trial._trial_id)


def heartbeat_thread(study, trial):
    """A context manager that records the trial's heartbeats while it runs (a no-op without them)."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial._trial_id, study._storage)
