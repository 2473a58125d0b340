"""Where a run's TensorBoard files go, by readable names: ``<study>/tb/trial 3``, ``<run dir>/tb/<name>``.

Apart from :mod:`kopt.training.tracking` (which imports Keras) so that a study's main process can
name a retrain's folder without loading TensorFlow, whose start-up lines it would then print.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

TB_DIR = "tb"


def study_member(run_dir: Path) -> str | None:
    """``trial`` or ``retrain`` for a study's trial or retrain (``trials/<n>``, ``retrain/<n>``), else None."""
    path = Path(run_dir)
    if path.parent.name in ("trials", "retrain") and path.name.isdigit():
        return "trial" if path.parent.name == "trials" else "retrain"
    return None


def tb_label(cfg: DictConfig, run_dir: Path) -> str:
    """A run's readable name, the name of its TensorBoard folder: ``trial 3`` / ``retrain 3`` in a
    study (whatever its ``name``: the trials share it), else the run's ``name`` (a safe name, no
    '/'), else ``job <n>`` for a sweep's job, else its dir's name."""
    path = Path(run_dir)
    role = study_member(path)
    if role is not None:
        return f"{role} {path.name}"
    if cfg.get("name"):
        return str(cfg.get("name"))
    return f"job {path.name}" if path.name.isdigit() else path.name


def tb_root(cfg: DictConfig, run_dir: Path) -> Path:
    """The run's TensorBoard folder (its HParams session; its epochs below it): ``<study>/tb/trial 3``
    for a study's trial or retrain, else ``<run dir>/tb/<label>``."""
    path = Path(run_dir)
    base = path.parent.parent if study_member(path) else path
    return base / TB_DIR / tb_label(cfg, path)


def tb_dir(cfg: DictConfig, run_dir: Path, fold: int, n_folds: int) -> Path:
    """Where a fold's epochs go (Keras adds train/ and validation/): the run's folder, or its
    ``fold <k>`` subfolder in a k-fold run."""
    root = tb_root(cfg, run_dir)
    return root / f"fold {fold}" if n_folds > 1 else root
