"""Each trial's ``curves.png`` attached through Optuna's artifact store (a
:class:`optuna.artifacts.FileSystemArtifactStore` in the study dir's ``artifacts/``), so that
``optuna-dashboard STORAGE --artifact-dir <study dir>/artifacts`` shows them.

A trial draws no plot (lean trials: :mod:`kopt.tune.results.curves` draws them all when the study ends),
and Optuna takes an artifact for a trial only while it runs, so the figures are attached to the
study, one per trial, named ``trial_<n>_curves.png``: optuna-dashboard lists them on the study's page.
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


def curves_name(number: int) -> str:
    return f"trial_{number}_curves.png"


def attach_trial_curves(study, study_dir: Path, drawn: dict[int, Path]) -> int:
    """Each trial's curves.png (``drawn``: {trial number: file}, from :func:`kopt.tune.results.curves.draw_trial_curves`)
    as an artifact of the study, named ``trial_<n>_curves.png``; one already attached is left as it
    is (a resumed study). How many were attached. A failed upload is logged, never fails the study."""
    from optuna.artifacts import get_all_artifact_meta, upload_artifact

    try:
        have = {m.filename for m in get_all_artifact_meta(study)}
        store = artifact_store(study_dir)
    except Exception as exc:
        log.warning("attaching the trials' curves.png failed: %s: %s", type(exc).__name__, exc)
        return 0
    count = 0
    for number, path in sorted(drawn.items()):
        name = curves_name(number)
        if name in have or not Path(path).is_file():
            continue
        try:
            # (upload_artifact names the artifact after the file: a copy under the trial's name)
            staged = Path(study_dir) / ARTIFACTS / name
            staged.write_bytes(Path(path).read_bytes())
            upload_artifact(artifact_store=store, file_path=str(staged), study_or_trial=study, mimetype="image/png")
            staged.unlink()
            count += 1
        except Exception as exc:  # the study's results count; the dashboard only lacks a picture
            log.warning("attaching %s to the study failed: %s: %s", path, type(exc).__name__, exc)
    return count
