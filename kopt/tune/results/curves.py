"""The trials' ``curves.png``, drawn once, when the study ends (:func:`draw_trial_curves`).

A trial draws no plot (kopt.training.run.TrialMode): matplotlib costs a tiny trial about as much as
its test-set prediction did, inside the timed loop. At the end of ``kopt tune`` (finished, stopped
by tuner.max_failures or interrupted) every trial run dir with metrics.jsonl and no curves.png
gets its figure; ``kopt report`` draws any still missing (a study killed outright). One function, so
that whatever else wants the trials' figures at study end (an artifact store) calls it and reads
the files it returns.
"""

from __future__ import annotations

from pathlib import Path

from kopt.rundir import METRICS


def trial_dirs(study_dir: Path) -> list[Path]:
    trials = Path(study_dir) / "trials"
    if not trials.is_dir():
        return []
    return sorted((p for p in trials.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def draw_trial_curves(study_dir: Path) -> dict[int, Path]:
    """curves.png of every trial of ``study_dir`` that has metrics and no figure yet; returns
    {trial number: curves.png} of every trial that has one now. A figure that fails is skipped
    (the study's results never depend on a plot)."""
    from omegaconf import OmegaConf

    from kopt.training.curves import (  # (no Keras: the study's process may not have it)
        CURVES,
        CurvesDrawer,
        curves_title,
    )

    drawer = CurvesDrawer()  # one Figure for every trial, each layout computed once
    out: dict[int, Path] = {}
    for run_dir in trial_dirs(study_dir):
        png = run_dir / CURVES
        if not png.is_file() and (run_dir / METRICS).is_file():
            try:
                cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
                drawer.plot(run_dir, title=curves_title(cfg, run_dir))
            except Exception as exc:  # a damaged metrics.jsonl or config: that trial has no figure
                print(f"kopt: warning: {png}: not drawn ({type(exc).__name__}: {exc})")
                continue
        if png.is_file():
            out[int(run_dir.name)] = png
    return out
