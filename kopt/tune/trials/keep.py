"""Which trials keep their model: the ``tuner.keep_models`` best completed trials by validation
(the study's first objective), so that a study of 1,000 trials keeps a bounded number of model
files. ``kopt ensemble --study`` builds on them (docs/compare.md).

A trial saves its model only where it can enter that top (:func:`keep_model_for`, decided when its
fold has its validation scores), and after every trial the models of trials that fell out of it are
deleted (:func:`prune_models`). summary.json records the kept trials (``kept_models``, best first).
Trials that reuse another's result (repeats, warm-start copies) trained nothing here: not ranked.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from pathlib import Path

from kopt.tune.planning.warmstart import FROM_ATTR
from kopt.tune.trials.dedup import DUPLICATE
from kopt.tune.trials.recovery import trial_run_dir

KEEP_MODELS = "keep_models"


def keep_count(tuner: dict) -> int:
    """tuner.keep_models (a study planned by an older kopt, without it, kept every trial's model)."""
    value = tuner.get(KEEP_MODELS)
    return int(value) if value is not None else 1_000_000_000


def _ranked(trials, maximize: bool) -> list:
    done = [
        t
        for t in trials
        if t.state.name == "COMPLETE"
        and t.values
        and math.isfinite(float(t.values[0]))
        and DUPLICATE not in t.user_attrs
        and FROM_ATTR not in t.user_attrs
    ]
    return sorted(done, key=lambda t: (-float(t.values[0]) if maximize else float(t.values[0]), t.number))


def _maximize(study) -> bool:
    return study.directions[0].name == "MAXIMIZE"


def kept_trials(study, tuner: dict) -> list[int]:
    """The numbers of the trials whose models the study keeps, best first."""
    return [t.number for t in _ranked(study.get_trials(deepcopy=False), _maximize(study))[: keep_count(tuner)]]


def keep_model_for(study, tuner: dict, metric: str) -> Callable[[dict, int], bool]:
    """For a trial about to run: ``(fold metrics, n_folds) -> save the fold's model?``. A one-fold
    trial whose ``metric`` cannot enter the top ``keep_models`` saves nothing; a k-fold trial (its
    value is the mean of folds still to come) or a trial of several objectives saves, and
    :func:`prune_models` deletes what falls out."""
    k = keep_count(tuner)
    maximize = _maximize(study)
    ranked = _ranked(study.get_trials(deepcopy=False), maximize)

    def keep(metrics: dict, n_folds: int) -> bool:
        if k == 0:
            return False
        value = metrics.get(metric)
        if len(ranked) < k or n_folds != 1 or len(study.directions) != 1 or value is None:
            return True
        last = float(ranked[k - 1].values[0])
        return value > last if maximize else value < last  # (a tie loses to the earlier trial)

    return keep


# per study object (this process): the completed trials outside the top whose model files are gone
_PRUNED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prune_models(study, tuner: dict, study_dir: Path) -> list[int]:
    """Delete the model files of completed trials outside the top ``keep_models``; returns the kept.
    Running trials are left alone (another worker's trial decides for itself when it ends).

    A completed trial outside the top never enters it again (later trials only push it further
    down), so once its files are gone this process never looks at its run dir again: each call
    looks at the trials that finished or fell out of the top since the last one, not at every
    trial of the study (on a 1,000-trial study that was 2,000 directory scans, ~0.4 s, per trial)."""
    kept = kept_trials(study, tuner)
    top = set(kept)
    try:
        pruned = _PRUNED.setdefault(study, set())
    except TypeError:  # (not weak-referenceable: look at every trial, as before)
        pruned = set()
    for t in study.get_trials(deepcopy=False):
        if t.state.name != "COMPLETE" or t.number in top or t.number in pruned:
            continue
        if DUPLICATE in t.user_attrs or FROM_ATTR in t.user_attrs:
            continue
        run_dir = trial_run_dir(study_dir, t.number)
        gone = True
        for path in [*run_dir.glob("model.keras"), *run_dir.glob("model_fold*.keras")]:
            try:
                path.unlink()
            except FileNotFoundError:
                pass  # (another process deleted it)
            except OSError:
                gone = False  # (a read-only disk: the next trial tries again)
        if gone:
            pruned.add(t.number)
    return kept
