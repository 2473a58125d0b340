"""``tuner.objectives``, ``tuner.constraints`` and ``tuner.pick``: parsed and checked before
TensorFlow loads, then what a trial measures for them.

A *measure* is a validation metric of the trial's run (``val_accuracy``, ``val_loss``: the mean
over folds, as summary.json has it) or a cost of its model, taken from the built graph before any
training: ``params``, ``flops`` (kopt.models.flops) and ``latency_ms`` (inference time per example
on this machine, the median of several batches). A trial records them all in its ``measures``
user attribute, and each constraint as an Optuna constraint value (``Trial.set_constraint``).
"""

from __future__ import annotations

import math
import statistics
import time

from kopt.schemas.objectives import (  # noqa: F401
    COSTS,
    DIRECTIONS,
    MEASURES,
    MULTI_OBJECTIVE,
    OPS,
    VAL_METRICS,
    Bound,
    check_options,
    parse_constraints,
    parse_objectives,
    parse_pick,
)

MEASURES_ATTR = "measures"  # trial user attribute: {measure: value}
INFEASIBLE_ATTR = "infeasible"  # trial user attribute: why the trial broke a constraint
LATENCY_BATCHES = 7  # timed batches (after 2 warm-up calls); the median is kept


# -- the plan's view --------------------------------------------------------------------------


def objectives_of(tuner: dict) -> list[tuple[str, str]]:
    return parse_objectives(tuner.get("objectives"))


def constraints_of(tuner: dict) -> list[Bound]:
    return parse_constraints(tuner.get("constraints"))


def is_multi(tuner: dict) -> bool:
    return bool(tuner.get("objectives"))


def needed_costs(tuner: dict) -> list[str]:
    """The model costs a trial must measure before it trains."""
    names = {n for n, _ in objectives_of(tuner)} | {b.measure for b in constraints_of(tuner)}
    pick = parse_pick(tuner.get("pick"))
    if pick is not None:
        names |= {pick[1]} | {b.measure for b in pick[2]}
    return [c for c in COSTS if c in names]


def set_constraints(trial, tuner: dict, measures: dict) -> None:
    """Each constraint the trial's measures decide, as an Optuna constraint value (``Trial.set_constraint``,
    Optuna 5's successor of ``constraints_func``; > 0 breaks it). The samplers that handle constraints
    (TPE, NSGA-II, GP) read them, and Optuna's ``best_trial``/``best_trials`` keep to feasible trials."""
    for bound in constraints_of(tuner):
        value = measures.get(bound.measure)
        if value is not None and math.isfinite(float(value)):
            trial.set_constraint(str(bound), bound.violation(float(value)))


def violations(bounds: list[Bound], measures: dict) -> list[float]:
    """One value per bound (<= 0: kept); a measure the trial has not got (not trained) counts as kept."""
    out = []
    for b in bounds:
        value = measures.get(b.measure)
        out.append(b.violation(float(value)) if value is not None and math.isfinite(float(value)) else 0.0)
    return out


def broken(bounds: list[Bound], measures: dict) -> list[str]:
    """The bounds ``measures`` break, as ``params=123456 > 1e5`` lines."""
    return [
        f"{b.measure}={measures[b.measure]:g} breaks {b}" for b, v in zip(bounds, violations(bounds, measures)) if v > 0
    ]


# -- a trial's measures ------------------------------------------------------------------------


def latency_ms(model, input_shape, batch_size: int) -> float:
    """Inference time per example, in ms: the median of LATENCY_BATCHES timed batches of random inputs
    (after two warm-up calls, which trace the function)."""
    import numpy as np

    x = np.random.default_rng(0).standard_normal((batch_size, *input_shape)).astype("float32")
    for _ in range(2):
        model.predict_on_batch(x)
    times = []
    for _ in range(LATENCY_BATCHES):
        t0 = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times) / batch_size


def measure_costs(cfg, names: list[str]) -> dict:
    """``names`` (params, flops, latency_ms) of the model ``cfg`` builds, before any training."""
    if not names:
        return {}
    from kopt.data.datasets import load_dataset
    from kopt.models import build_model
    from kopt.runtime import released_session, setup_tensorflow

    tr = cfg.trainer
    setup_tensorflow(int(cfg.seed), tr.deterministic, tr.intra_threads, tr.inter_threads, tr.verbose)
    data = load_dataset(cfg.dataset, int(cfg.seed))
    with released_session():
        model = build_model(cfg.model, cfg.regularizer, data.input_shape, data.num_classes)
        out: dict = {"params": int(model.count_params())}
        if "flops" in names:
            from kopt.models.flops import count_flops

            out["flops"] = int(count_flops(model))
        if "latency_ms" in names:
            out["latency_ms"] = round(latency_ms(model, tuple(data.input_shape), int(tr.batch_size)), 6)
        del model
    return out


def before_training(plan, cfg) -> tuple[dict, str | None]:
    """(the model's costs, why it is infeasible or None): a config that breaks a constraint on its
    size or speed is recognised here, from the built graph, and never trained."""
    costs = measure_costs(cfg, needed_costs(plan.tuner))
    bounds = [b for b in constraints_of(plan.tuner) if b.measure in costs]
    why = broken(bounds, costs)
    return costs, ("; ".join(why) if why else None)


def trial_values(plan, summary: dict, costs: dict) -> tuple[dict, float | list[float] | None]:
    """(every measure of a trained trial, the value(s) to tell Optuna or None when one is missing)."""
    measures = {**{k: summary.get("metrics", {}).get(k) for k in VAL_METRICS}, **costs}
    measures = {k: v for k, v in measures.items() if v is not None}
    names = [n for n, _ in objectives_of(plan.tuner)] or [plan.metric]
    values = [measures.get(n) for n in names]
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return measures, None
    values = [float(v) for v in values]
    return measures, (values if is_multi(plan.tuner) else values[0])


def shape_plan(plan):
    """The plan with several objectives: its metric and direction are the first objective's (the
    trials table's value column, best.yaml's first line), and no pruner: Optuna cannot prune a
    multi-objective study (Trial.report refuses), so the pruner is switched off, with one line.
    Then tuner.enqueue and tuner.warm_start are checked against the search space."""
    import sys

    from kopt.tune.planning import warmstart

    objectives = objectives_of(plan.tuner)
    if objectives:
        plan.metric, plan.direction = objectives[0]
        if plan.pruner.get("name") != "none":
            print(
                f"kopt tune: pruner={plan.pruner.get('name')} is off: Optuna cannot prune a study with several "
                "objectives (tuner.objectives); every trial trains all its epochs",
                file=sys.stderr,
                flush=True,
            )
            plan.pruner = {"name": "none"}
    warmstart.check_enqueue(plan)
    warmstart.check_warm_start(plan)
    return plan


def study_directions(plan) -> dict:
    """create_study's keyword: ``directions`` for several objectives, else ``direction``."""
    objectives = objectives_of(plan.tuner)
    return {"directions": [d for _, d in objectives]} if objectives else {"direction": plan.direction}


def metric_names(plan) -> list[str]:
    return [n for n, _ in objectives_of(plan.tuner)] or [plan.metric]


def record_infeasible(run_dir, costs: dict, why: str) -> dict:
    """The run dir of a trial that broke a constraint before training: summary.json says ``pruned``
    (it never trained), with the reason and the model's costs. Returns the trial's user attributes."""
    from pathlib import Path

    from kopt.rundir import SUMMARY, atomic_write_json

    atomic_write_json(
        Path(run_dir) / SUMMARY,
        {"status": "pruned", INFEASIBLE_ATTR: why, "params": costs.get("params"), "costs": costs, "pruned_epoch": 0},
    )
    return {MEASURES_ATTR: costs, INFEASIBLE_ATTR: why, "fail_reason": f"infeasible: {why}"}
