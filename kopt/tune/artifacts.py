"""Each completed trial's ``curves.png`` attached to the trial through Optuna's artifact store
(a :class:`optuna.artifacts.FileSystemArtifactStore` in the study dir's ``artifacts/``), so that
``optuna-dashboard STORAGE --artifact-dir <study dir>/artifacts`` shows it on the trial's page.

Optuna takes an artifact only while its trial runs (a finished trial cannot be updated), so the
objective attaches the file the run has already drawn, just before the trial completes: a copy,
no drawing in the trial's time.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("kopt")
ARTIFACTS = "artifacts"


def artifact_store(study_dir: Path):
    from optuna.artifacts import FileSystemArtifactStore

    folder = Path(study_dir) / ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


def attach_curves(trial, run_dir: Path) -> None:
    """``run_dir``'s curves.png as an artifact of the running ``trial`` (the study dir is the run
    dir's grandparent: <study>/trials/<n>). A failed upload is logged and never fails the trial."""
    from optuna.artifacts import upload_artifact

    from kopt.training.curves import CURVES

    path = Path(run_dir) / CURVES
    if not path.is_file():
        return
    try:
        store = artifact_store(Path(run_dir).parent.parent)
        upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial, mimetype="image/png")
    except Exception as exc:  # the trial's result counts; the dashboard only lacks a picture
        log.warning("attaching %s to trial %s failed: %s: %s", path, trial.number, type(exc).__name__, exc)
