"""No wasted trials: a sampled configuration equal to a finished one is not trained again.

Training is deterministic for a given config and seed (``trainer.deterministic``, on kernels that
keep it: see :func:`deterministic`), so a repeat teaches the sampler nothing. The repeated trial
takes the earlier trial's state and value(s) without training (user attribute ``duplicate_of``,
and the earlier trial's ``run_dir``), and does not count towards ``n_trials``: the study draws
another configuration instead, up to :func:`repeat_cap` repeats per study (so a sampler stuck on
one config still ends). A finite space whose every configuration has finished is exhausted: the
study stops there. Parameters are compared as Optuna stores them, i.e. after the space's steps
and integer rounding. Where training is not deterministic, a repeat is trained again.
"""

from __future__ import annotations

import os
import sys

from kopt.tune.planning.auto import finite_size

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


def repeat_cap(n_trials: int) -> int:
    """The repeats a study draws at most (they cost no training, but a stuck sampler must end)."""
    return max(100, 10 * n_trials)


def discount_duplicates(counts: dict[str, int], trials) -> dict[str, int]:
    """State counts of the trials that trained: repeats never count towards ``n_trials``."""
    counts = dict(counts)
    for t in trials:
        if DUPLICATE in t.user_attrs and t.state.name in counts:
            counts[t.state.name] -= 1
    return counts


def gpu_nondeterministic(backend: str) -> bool:
    """Whether the Keras backend runs on a GPU whose kernels kopt cannot make deterministic: JAX without
    ``--xla_gpu_deterministic_ops=true``, torch on CUDA (its deterministic mode only warns). TensorFlow's
    op determinism covers its GPU kernels. Only a backend already imported is asked (no import here)."""
    if backend == "jax" and "jax" in sys.modules:
        if "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", ""):
            return False
        try:
            return any(d.platform != "cpu" for d in sys.modules["jax"].devices())
        except Exception:
            return False
    if backend == "torch" and "torch" in sys.modules:
        try:
            return bool(sys.modules["torch"].cuda.is_available())
        except Exception:
            return False
    return False


def deterministic(trainer: dict) -> bool:
    """Whether a trial with this ``trainer`` node trains to the same result every time, so that a
    repeat may reuse the earlier result."""
    from kopt.backend import resolve

    return bool(trainer.get("deterministic", True)) and not gpu_nondeterministic(resolve(trainer.get("backend")))


def reuses(plan) -> bool:
    """Whether the study's trials reuse repeats: every base config trains deterministically."""
    return all(deterministic(base.get("trainer") or {}) for base in plan.bases.values())


def space_exhausted(plan, trials) -> bool:
    """Every configuration of a finite space has finished (tuner=grid keeps its own count); never
    where repeats are trained again (not deterministic)."""
    if plan.grid_size is not None or not reuses(plan):
        return False
    size = finite_size(plan.space)
    return size is not None and len(originals(trials)) >= size


def stop_reason(plan, trials) -> str | None:
    """Why the study stopped with fewer than ``n_trials`` trained, when repeats are the cause."""
    trained = sum(t.state.name in FINISHED and DUPLICATE not in t.user_attrs for t in trials)
    if trained >= plan.n_trials:
        return None
    if space_exhausted(plan, trials):
        return f"the search space's {finite_size(plan.space)} configurations have all been trained"
    repeats = duplicate_count(trials)
    if repeats >= repeat_cap(plan.n_trials):
        return f"the sampler drew {repeats} configurations already trained; it keeps repeating itself"
    return None
