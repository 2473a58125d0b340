"""A study's storage: the URL or journal file it lives in (``tuner.storage``), opened with the
heartbeat settings of the study's tuner node for RDB storages."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from kopt.errors import KoptError, install_hint
from kopt.rundir import STUDY_OWNER as OWNER
from kopt.rundir import read_json

JOURNAL = "journal.log"


def storage_spec(storage: str | None, study_dir: Path) -> str:
    """The storage as the stock ``optuna`` CLI takes it: a URL, or a journal file path."""
    return str(Path(study_dir) / JOURNAL) if storage is None else str(storage)


def open_storage(spec: str, tuner: dict | None = None):
    """The storage behind ``spec``. With an RDB URL and a ``tuner`` node, running trials send
    heartbeats and a stale one (its worker died) is failed and enqueued again by
    RetryHeartbeatStaleTrialCallback. Journal storages have no heartbeats (Optuna 5): there
    :func:`recover` fails the trials of dead processes on this host instead."""
    from optuna.storages import JournalStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

    if "://" not in spec:
        from kopt.tune.store.journal import check_journal

        check_journal(Path(spec).expanduser())  # a torn tail is cut off; a damaged middle is one line
    try:
        if "://" not in spec:
            path = Path(spec).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            from kopt.tune.store.lock import StudyJournalLock

            return JournalStorage(JournalFileBackend(str(path), lock_obj=StudyJournalLock(str(path))))
        if spec.startswith("redis"):
            return JournalStorage(JournalRedisBackend(spec))
        if tuner is None:
            return _open_rdb(spec)
        return _open_rdb(
            spec,
            heartbeat_interval=int(tuner.get("heartbeat_interval", 10)),
            grace_period=int(tuner.get("grace_period", 30)),
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=int(tuner.get("max_retry", 3))),
        )
    except ImportError as exc:  # SQLAlchemy's driver for the URL's dialect (Optuna re-raises it)
        cause = exc if exc.name else (exc.__cause__ or exc.__context__ or exc)
        driver = getattr(cause, "name", None) or "database driver"
        hint = install_hint("distributed") if spec.startswith("postgres") else f"pip install {driver}"
        raise KoptError(f"tuner.storage={spec}: needs {driver}, which is not installed; {hint}") from None
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise KoptError(f"tuner.storage={spec}: cannot open it ({type(exc).__name__}: {detail})") from None


# What a database says to the second of two processes creating the same table or type at once (PostgreSQL:
# a duplicate key in its catalogue, pg_type_typname_nsp_index; or the relation already exists).
CREATED_MEANWHILE = ("duplicate key value", "already exists")
OPEN_TRIES = 5


def _open_rdb(spec: str, **kwargs):
    """``RDBStorage(spec, **kwargs)``, opened again where another process was creating Optuna's tables in the
    same new database at the same moment: workers or `kopt tune` processes started together (a SLURM array,
    one per machine) each create them, and PostgreSQL refuses one of two concurrent CREATEs. The next try
    finds the tables there."""
    from optuna.storages import RDBStorage

    for attempt in range(OPEN_TRIES):
        try:
            return RDBStorage(spec, **kwargs)
        except Exception as exc:
            if attempt == OPEN_TRIES - 1 or not any(text in str(exc) for text in CREATED_MEANWHILE):
                raise
            time.sleep(0.1 * (attempt + 1))


def quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()  # to the run's log file
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*GridSampler.*")


def open_study_readonly(study_dir: Path):
    """The Optuna study of a study dir, from the storage its study.json names; nothing is written
    to a journal file (no torn tail is cut: the study may be running). kopt report reads studies so."""
    import optuna

    quiet_optuna()
    owner = read_json(Path(study_dir) / OWNER)
    spec = str(owner.get("storage") or JOURNAL)
    if "://" in spec:
        storage = open_storage(spec)
    else:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(spec) if Path(spec).is_absolute() else Path(study_dir) / spec
        storage = JournalStorage(JournalFileBackend(str(path)))
    return optuna.load_study(study_name=str(owner["study_name"]), storage=storage)
