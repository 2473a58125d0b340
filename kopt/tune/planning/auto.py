"""``tuner=auto`` and ``pruner=auto``: the sampler, its start-up size and the pruner, chosen from
the search space and the budget when the plan is built (docs/tune.md, "tuner=auto").

The rule (measured with benchmarks/tune_suite.py):

sampler
  1. a finite space (choices, ranges, stepped intervals; no conditional parameters) with at most
     ``n_trials`` points: ``grid``, every point once (``n_trials`` becomes the grid size);
  2. a numeric space (no choice, no conditional parameter) of at most 8 dimensions, with the
     ``gp`` extra (PyTorch) installed: ``gp``;
  3. otherwise ``bayes`` (TPE, multivariate; ``group`` on for conditional spaces).
  Start-up (random) trials of gp and bayes: ``clamp(3 x dimensions, 2, 25% of n_trials)`` (SMAC3's
  cap of the initial design at a quarter of the budget, KerasTuner's 3 per dimension).
trial 0 (gp and bayes, unless ``tuner.enqueue`` or ``tuner.warm_start`` is given)
  the config's own values of the searched keys, the ones ``kopt train`` would use (the YAML defaults
  and your overrides; the nearest value the space can draw when one lies outside it): enqueued once,
  when the study is created (kopt.tune.planning.warmstart.apply), never on resume nor by a worker.
  It comes on top of the random start-up trials (``n_startup_trials`` + 1, unless you set it): in
  benchmarks/tune_suite.py, trial 0 in place of a random one lost breast_cancer_mlp seed 1's best.
pruner (E = epochs per trial, F = folds per trial)
  1. F > 1 (k-fold): ``wilcoxon``, a paired test of the trial's folds against the best trial's,
     one value per finished fold (the epochs of one fold are not independent instances);
  2. E < 4: ``none`` (a curve of 1-3 epochs says little about the final value, and pruning saves
     at most 2 epochs per trial);
  3. E < 12: ``median``, no trial pruned in the first ``ceil(E / 3)`` epochs (warm-up);
  4. E >= 12: ``hyperband``, its first rung after ``ceil(E / 9)`` epochs.

The resolved tuner and pruner replace ``auto`` in the plan (so workers and resumed runs use the
same choice); each keeps an ``auto`` key saying what was chosen and why.
"""

from __future__ import annotations

import importlib.util
import math

from omegaconf import OmegaConf

from kopt.tune.planning.space import SearchSpace
from kopt.tune.planning.warmstart import inside

MAX_GP_DIMS = 8
HYPERBAND_EPOCHS = 12
PRUNE_EPOCHS = 4


def option_defaults(group: str, name: str) -> dict:
    """An option's values as its YAML in configs/ sets them (the one home of defaults)."""
    from kopt.paths import config_dir

    return OmegaConf.to_container(OmegaConf.load(config_dir() / group / f"{name}.yaml"), resolve=True)


def finite_size(space: SearchSpace) -> int | None:
    """The number of distinct configurations of a finite space; None when it has a continuous
    interval or conditional parameters."""
    if space.conditional or any(p.dist.kind == "float" and p.dist.step is None for p in space.params):
        return None
    size = 1
    for p in space.params:
        size *= len(p.dist.grid_values(p.name))
    return size


def startup_trials(dims: int, n_trials: int) -> int:
    return max(2, min(3 * dims, n_trials // 4))


def choose_sampler(space: SearchSpace, n_trials: int, has_gp: bool | None = None) -> tuple[str, dict, str]:
    """(sampler name, its options beyond its YAML defaults, the reason)."""
    if has_gp is None:
        has_gp = importlib.util.find_spec("torch") is not None
    dims = len(space.params)
    size = finite_size(space)
    if size is not None and size <= n_trials:
        return (
            "grid",
            {"n_trials": size},
            f"a finite space of {size} configurations <= n_trials={n_trials}: enumerated once each",
        )
    numeric = not space.conditional and all(p.dist.kind != "categorical" for p in space.params)
    start = startup_trials(dims, n_trials)
    if numeric and dims <= MAX_GP_DIMS and has_gp:
        return "gp", {"n_startup_trials": start}, f"{dims} numeric dimensions, the gp extra installed"
    why = (
        "conditional parameters"
        if space.conditional
        else "categorical parameters"
        if not numeric
        else f"{dims} dimensions > {MAX_GP_DIMS}"
        if dims > MAX_GP_DIMS
        else "the gp extra (torch) not installed"
    )
    return "bayes", {"n_startup_trials": start, "group": True if space.conditional else None}, f"TPE: {why}"


MISSING = object()


def config_value(base: dict, target: str):
    node = base
    for part in target.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def default_trial(space: SearchSpace, bases: dict[str, dict]) -> dict:
    """Trial 0 of tuner=auto: {parameter: the value the config has at its key}, the nearest value the
    space can draw for a number outside it. Group choices, and keys whose value differs between the
    base configs or is missing, are left to the sampler."""
    out: dict = {}
    for p in space.params:
        values = [config_value(base, p.target) for base in bases.values()]
        if p.group_choice or not values or any(v is MISSING or v != values[0] for v in values):
            continue
        value = nearest(p.dist, values[0])
        if value is not None:
            out[p.name] = value
    return out


def nearest(dist, value):
    """``value`` if ``dist`` can draw it, else the nearest value it can; None for a choice it lacks
    or a value that is no number."""
    if dist.kind == "categorical":
        return value if value in dist.choices else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = min(max(value, dist.low), dist.high)
    if dist.kind == "int" or dist.step:
        step = dist.step or 1
        n = min(max(round((value - dist.low) / step), 0), math.floor((dist.high - dist.low) / step + 1e-9))
        value = int(dist.low + n * step) if dist.kind == "int" else float(round(dist.low + n * step, 12))
    return value if inside(dist, value) else None


def choose_pruner(epochs: int, folds: int) -> tuple[str, dict, str]:
    """(pruner name, its options beyond its YAML defaults, the reason)."""
    if folds > 1:
        return "wilcoxon", {}, f"k-fold ({folds} folds): a paired test over the folds, one value per finished fold"
    if epochs < PRUNE_EPOCHS:
        return "none", {}, f"{epochs} epochs per trial < {PRUNE_EPOCHS}: too few to prune on"
    if epochs < HYPERBAND_EPOCHS:
        warmup = math.ceil(epochs / 3)
        return "median", {"n_warmup_steps": warmup}, f"{epochs} epochs: no pruning in the first {warmup}"
    first = math.ceil(epochs / 9)
    return "hyperband", {"min_resource": first, "max_resource": epochs}, f"{epochs} epochs: rungs from epoch {first}"


def trial_shape(bases: dict[str, dict], space: SearchSpace) -> tuple[int, int]:
    """(epochs, folds) of the largest trial: over the base configs, and a searched trainer.epochs's top."""
    epochs = folds = 1
    for base in bases.values():
        epochs = max(epochs, int(base.get("trainer", {}).get("epochs") or 1))
        split = base.get("split", {})
        name = split.get("name")
        n = {
            "kfold": split.get("k", 1),
            "repeated_kfold": split.get("k", 1) * split.get("repeats", 1),
            "cv5x2": 10,
        }.get(name, 1)
        folds = max(folds, int(n))
    for p in space.params:
        if p.target == "trainer.epochs" and p.dist.kind != "categorical":
            epochs = max(epochs, int(p.dist.high))
        elif p.target == "trainer.epochs":
            epochs = max([epochs, *(int(c) for c in p.dist.choices)])
    return epochs, folds


def resolve(tuner: dict, pruner: dict, space: SearchSpace, bases: dict[str, dict]) -> tuple[dict, dict]:
    """The plan's tuner and pruner nodes with ``auto`` replaced by the chosen options."""
    if tuner.get("name") == "auto":
        name, options, why = choose_sampler(space, int(tuner["n_trials"]))
        tuner_startup = tuner.get("n_startup_trials")
        if tuner.get("n_startup_trials") is not None and "n_startup_trials" in options:
            options["n_startup_trials"] = int(tuner["n_startup_trials"])
        shared = {k: v for k, v in tuner.items() if k not in ("name", "n_startup_trials")}
        own = option_defaults("tuner", name)
        tuner = {
            **own,
            **shared,
            **{k: v for k, v in options.items() if v is not None or k == "group"},
            "name": name,
            "auto": {"sampler": name, **options, "reason": why},
        }
        if name == "grid":
            tuner["n_trials"] = options["n_trials"]
        elif not tuner.get("enqueue") and not tuner.get("warm_start"):
            first = default_trial(space, bases)
            if first:
                tuner["auto"]["trial0"] = first
                if tuner_startup is None:  # trial 0 comes on top of the random start-up trials
                    tuner["n_startup_trials"] += 1
                    tuner["auto"]["n_startup_trials"] += 1
    if pruner.get("name") == "auto":
        epochs, folds = trial_shape(bases, space)
        name, options, why = choose_pruner(epochs, folds)
        pruner = {
            **option_defaults("pruner", name),
            **options,
            "name": name,
            "auto": {"pruner": name, **options, "reason": why},
        }
    return tuner, pruner


def describe(tuner: dict, pruner: dict) -> list[str]:
    """The header's lines for choices made by ``auto``."""
    lines = []
    if "auto" in tuner:
        auto = tuner["auto"]
        skip = ("sampler", "reason", "trial0")
        opts = ", ".join(f"{k}={v}" for k, v in auto.items() if k not in skip and v is not None)
        lines.append(f"tuner=auto chose {auto['sampler']}" + (f" ({opts})" if opts else "") + f": {auto['reason']}")
        if auto.get("trial0"):
            values = ", ".join(f"{k}={v}" for k, v in auto["trial0"].items())
            lines.append(f"tuner=auto: trial 0 = the config's defaults (YAML values and overrides): {values}")
    if "auto" in pruner:
        auto = pruner["auto"]
        opts = ", ".join(f"{k}={v}" for k, v in auto.items() if k not in ("pruner", "reason"))
        lines.append(f"pruner=auto chose {auto['pruner']}" + (f" ({opts})" if opts else "") + f": {auto['reason']}")
    return lines


def auto_choices(tuner: dict, pruner: dict) -> dict:
    """The study summary's record of what ``auto`` chose (empty when neither was auto)."""
    chosen = {"tuner": tuner.get("auto"), "pruner": pruner.get("auto")}
    return {"auto": {k: v for k, v in chosen.items() if v}} if any(chosen.values()) else {}
