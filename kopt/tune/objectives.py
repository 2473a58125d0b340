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
import re
import statistics
import time
from dataclasses import dataclass

from kopt.errors import KoptError

VAL_METRICS = ("val_accuracy", "val_loss")
COSTS = ("params", "flops", "latency_ms")  # known before training, from the built model
MEASURES = VAL_METRICS + COSTS
DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
# Optuna 5 samplers that take several objectives (CmaEsSampler takes one)
MULTI_OBJECTIVE = ("bayes", "genetic", "gp", "random", "grid", "qmc")
OPS = ("<=", ">=")
MEASURES_ATTR = "measures"      # trial user attribute: {measure: value}
INFEASIBLE_ATTR = "infeasible"  # trial user attribute: why the trial broke a constraint
LATENCY_BATCHES = 7             # timed batches (after 2 warm-up calls); the median is kept


@dataclass(frozen=True)
class Bound:
    measure: str
    op: str      # <= | >=
    limit: float

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 is feasible."""
        return value - self.limit if self.op == "<=" else self.limit - value

    def __str__(self) -> str:
        return f"{self.measure}{self.op}{self.limit:g}"


def _measure(name: str, where: str) -> str:
    if name not in MEASURES:
        raise KoptError(f"{where}: unknown measure {name!r}; allowed: {', '.join(MEASURES)}")
    return name


def parse_objectives(items, prefix: str = "tuner") -> list[tuple[str, str]]:
    """``[val_accuracy:max, params:min]`` -> [(measure, maximize|minimize), ...]; at least two."""
    if items is None:
        return []
    if isinstance(items, str) or not isinstance(items, (list, tuple)):
        raise KoptError(f"{prefix}.objectives={items!r}: must be a list such as [val_accuracy:max,params:min]")
    out = []
    for item in items:
        name, _, way = str(item).partition(":")
        where = f"{prefix}.objectives: {item!r}"
        if way.strip() not in DIRECTIONS:
            raise KoptError(f"{where}: write <measure>:<max|min>, e.g. val_accuracy:max; allowed measures: "
                            f"{', '.join(MEASURES)}")
        out.append((_measure(name.strip(), where), DIRECTIONS[way.strip()]))
    names = [n for n, _ in out]
    if len(out) < 2 or len(set(names)) < len(names):
        raise KoptError(f"{prefix}.objectives={list(items)}: allowed: two or more different measures "
                        "(one objective is tuner.metric), e.g. [val_accuracy:max,params:min]")
    return out


def _bound(measure: str, text, where: str) -> Bound:
    m = re.fullmatch(r"\s*(<=|>=)\s*([-+0-9.eE]+)\s*", str(text))
    try:
        limit = float(m.group(2)) if m else math.nan
    except ValueError:
        limit = math.nan
    if not m or not math.isfinite(limit):
        raise KoptError(f"{where}: {measure} {text!r}: write '<=<number>' or '>=<number>', e.g. '<=1e6'")
    return Bound(_measure(measure, where), m.group(1), limit)


def parse_constraints(node, prefix: str = "tuner") -> list[Bound]:
    """``{params: "<=1e6", latency_ms: "<=2"}`` -> bounds."""
    if not node:
        return []
    if not isinstance(node, dict):
        raise KoptError(f"{prefix}.constraints={node!r}: must be a mapping such as {{params: '<=1e6'}}")
    return [_bound(str(k), v, f"{prefix}.constraints") for k, v in node.items()]


PICK = re.compile(r"\s*(max|min)\s+(\w+)\s*(?:where\s+(.+?))?\s*")


def parse_pick(text, prefix: str = "tuner") -> tuple[str, str, list[Bound]] | None:
    """``max val_accuracy where params<=1e5 and latency_ms<=2`` -> (maximize, val_accuracy, bounds)."""
    if text is None:
        return None
    where = f"{prefix}.pick={text!r}"
    m = PICK.fullmatch(str(text))
    if not m:
        raise KoptError(f"{where}: write '<max|min> <measure> [where <measure><=|>=<number> [and ...]]', "
                        "e.g. 'max val_accuracy where params<=1e5'")
    bounds = []
    for part in re.split(r"\s+and\s+", m.group(3) or "") if m.group(3) else []:
        c = re.fullmatch(r"\s*(\w+)\s*(<=|>=)\s*(\S+)\s*", part)
        if not c:
            raise KoptError(f"{where}: condition {part!r}: write <measure><=<number> or <measure>>=<number>")
        bounds.append(_bound(c.group(1), c.group(2) + c.group(3), where))
    return DIRECTIONS[m.group(1)], _measure(m.group(2), where), bounds


def check_options(tuner, prefix: str = "tuner") -> None:
    """Everything about these keys that can be checked before TensorFlow loads (schema check())."""
    objectives = parse_objectives(tuner.objectives, prefix)
    parse_constraints(tuner.constraints, prefix)
    pick = parse_pick(tuner.pick, prefix)
    if objectives and tuner.name not in MULTI_OBJECTIVE:
        raise KoptError(f"{prefix}.objectives with tuner={tuner.name}: its sampler takes one objective; allowed "
                        f"tuners: {', '.join(MULTI_OBJECTIVE)}")
    if pick is not None and not objectives:
        raise KoptError(f"{prefix}.pick needs {prefix}.objectives (a single objective has one best trial)")


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
    return [f"{b.measure}={measures[b.measure]:g} breaks {b}" for b, v in zip(bounds, violations(bounds, measures))
            if v > 0]


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

    from kopt.tune import warmstart

    objectives = objectives_of(plan.tuner)
    if objectives:
        plan.metric, plan.direction = objectives[0]
        if plan.pruner.get("name") != "none":
            print(f"kopt tune: pruner={plan.pruner.get('name')} is off: Optuna cannot prune a study with several "
                  "objectives (tuner.objectives); every trial trains all its epochs", file=sys.stderr, flush=True)
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

    atomic_write_json(Path(run_dir) / SUMMARY, {"status": "pruned", INFEASIBLE_ATTR: why, "params": costs.get("params"),
                                                "costs": costs, "pruned_epoch": 0})
    return {MEASURES_ATTR: costs, INFEASIBLE_ATTR: why, "fail_reason": f"infeasible: {why}"}
