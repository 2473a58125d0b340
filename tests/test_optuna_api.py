"""kopt.tune.store.optuna_api: the only user of Optuna's private API, pinned to the versions it was
written for, and each function run against the installed Optuna."""

from __future__ import annotations

import optuna
import pytest

from kopt.tune.store import optuna_api


def test_installed_optuna_is_in_the_range_the_adapter_was_written_for():
    assert optuna_api.supported(optuna.__version__), (
        f"Optuna {optuna.__version__} is outside {optuna_api.SUPPORTED}: check every function of "
        "kopt/tune/store/optuna_api.py against it, then widen SUPPORTED"
    )


@pytest.mark.parametrize(
    "version,ok", [("4.5.0", False), ("5.0.0", True), ("5.4.1.dev0", True), ("6.0.0", False), ("10.0", False)]
)
def test_supported_reads_version_strings(version, ok):
    assert optuna_api.supported(version) is ok


def _study(storage):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name="s", storage=storage, direction="maximize")


def test_journal_storage_functions(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = _study(JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))))
    assert optuna_api.rdb_storage(study) is None
    assert not optuna_api.heartbeat_enabled(study)
    optuna_api.set_study_system_attr(study, "kopt:x", {"a": 1})
    assert optuna_api.study_system_attrs(study)["kopt:x"] == {"a": 1}
    trial = study.ask()
    with optuna_api.heartbeat_thread(study, trial):  # no heartbeats: a no-op context
        pass
    optuna_api.trial_by_number(study, trial.number).set_user_attr("k", "v")
    frozen = optuna_api.frozen_trial(study, trial)
    assert (frozen.number, frozen.user_attrs["k"], frozen.state.name) == (trial.number, "v", "RUNNING")
    study.tell(trial, 0.5)
    assert optuna_api.frozen_trial(study, trial).state.name == "COMPLETE"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_rdb_storage_functions(tmp_path):
    from optuna.storages import RDBStorage

    pytest.importorskip("sqlalchemy")
    storage = RDBStorage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat_interval=7, grace_period=30)
    study = _study(storage)
    assert isinstance(optuna_api.rdb_storage(study), RDBStorage)  # under Optuna's cache wrapper
    assert optuna_api.rdb_storage(storage) is storage
    assert optuna_api.heartbeat_enabled(study)
    assert optuna_api.heartbeat_interval(study) == 7
    trial = study.ask()
    optuna_api.record_heartbeat(study, trial)
    with optuna_api.heartbeat_thread(study, trial):
        pass
    assert optuna_api.frozen_trial(study, trial).state.name == "RUNNING"
