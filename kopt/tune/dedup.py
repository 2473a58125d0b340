"""No wasted trials: a sampled configuration equal to a finished one is not trained again.

Training is deterministic for a given config and seed, so a repeat teaches the sampler nothing.
The repeated trial takes the earlier trial's state and value without training (user attribute
``duplicate_of``, and the earlier trial's ``run_dir``), and does not count towards ``n_trials``
(up to ``n_trials`` such repeats per study, so a sampler stuck on one config still ends): the
study draws another configuration instead. A finite space whose every configuration has
finished is exhausted: the study stops there. Parameters are compared as Optuna stores them,
i.e. after the space's steps and integer rounding.
"""

from __future__ import annotations

from kopt.tune.auto import finite_size

DUPLICATE = "duplicate_of"  # trial user attribute: the number of the trial whose result it reuses
FINISHED = ("COMPLETE", "PRUNED")


def config_key(params: dict) -> tuple:
    return tuple(sorted((k, round(v, 12) if isinstance(v, float) else v) for k, v in params.items()))


def originals(trials) -> dict[tuple, object]:
    """Finished trials that trained, by configuration (the first of each)."""
    found: dict[tuple, object] = {}
    for t in trials:
        if t.state.name in FINISHED and DUPLICATE not in t.user_attrs:
            found.setdefault(config_key(t.params), t)
    return found


def find_duplicate(trial):
    """The finished trial that already trained this trial's sampled configuration, or None."""
    trials = trial.study.get_trials(deepcopy=False)
    return originals(t for t in trials if t.number != trial.number).get(config_key(trial.params))


def reused_attrs(original) -> dict:
    attrs = {DUPLICATE: original.number, "run_dir": original.user_attrs.get("run_dir")}
    for key in ("best_epoch", "pruned_epoch", "pruned_fold", "pruned_step"):
        if original.user_attrs.get(key) is not None:
            attrs[key] = original.user_attrs[key]
    return attrs


def duplicate_count(trials) -> int:
    return sum(DUPLICATE in t.user_attrs for t in trials)


def discount_duplicates(counts: dict[str, int], trials, n_trials: int) -> dict[str, int]:
    """State counts without the study's first ``n_trials`` duplicates: those are drawn again."""
    free = n_trials
    counts = dict(counts)
    for t in trials:
        if free and DUPLICATE in t.user_attrs and t.state.name in FINISHED:
            counts[t.state.name] -= 1
            free -= 1
    return counts


def space_exhausted(plan, trials) -> bool:
    """Every configuration of a finite space has finished (tuner=grid keeps its own count)."""
    if plan.grid_size is not None:
        return False
    size = finite_size(plan.space)
    return size is not None and len(originals(trials)) >= size
