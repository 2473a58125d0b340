"""The ``tuner`` group: one module per tuner, holding its schema (the keys of its YAML beyond the ones
every tuner shares, :class:`kopt.schemas.tuner.TunerConfig`) and its builder, registered here with the
signature ``make(cfg, seed, plan) -> optuna.samplers.BaseSampler``, where ``cfg`` is the tuner's typed
schema object. With its YAML in ``configs/tuner/`` that is the whole option (docs/architecture.md); the
registries import every module here. Modules here import no Optuna at module level (validation imports
them): a builder imports it inside. ``tuner=auto`` has no builder: the plan replaces it by the option it
chooses (kopt.tune.planning.auto).

The seed comes from ``seed`` (plus the stream number a process takes when it first draws a trial, so
processes sharing a study do not draw the same values: see kopt.tune.trials.claim.take_sampler_stream).

Fact stated at registration: ``shared_seed`` (the random state must be the same in every worker
and every run: the grid's order and the QMC sequence's scrambling map the ids they keep in the
storage to parameter values)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kopt.registry import Registry

if TYPE_CHECKING:
    from kopt.tune.planning.record import TunePlan

SAMPLERS = Registry("tuner", ("kopt.tune.planning.tuners",))
sampler = SAMPLERS.register


def typed_plan_option(group: str, node):
    """The typed schema object of a plan's tuner or pruner node (a typed one passes through). The plan
    checked the values when it was made, on the machine that made it: typing them again checks no range
    (a worker on a smaller machine can join a study with more workers than its cores)."""
    import dataclasses

    if dataclasses.is_dataclass(node):
        return node
    from kopt.validate import typed_option

    return typed_option(group, {k: v for k, v in node.items() if k != "auto"}, check=False)


def sampler_seed(plan: TunePlan, worker: int = 0, existing: int = 0) -> int:
    """``seed`` for a new study's first process (stream 0); other streams (``worker``), and runs that resume
    a study with ``existing`` trials, get other seeds (else a resumed random search would redraw its values).
    ``existing``: :func:`past_trials`."""
    if SAMPLERS.fact(plan.tuner_name, "shared_seed", False):
        return plan.seed
    return (plan.seed + 1_000_003 * worker + 7_919 * existing) % 2**32


def past_trials(trials) -> int:
    """The study's trials that started: a waiting one (tuner=auto's trial 0, ``tuner.enqueue``, a retry)
    drew nothing, and a new study with trial 0 queued keeps ``seed``'s draws."""
    return sum(t.state.name != "WAITING" for t in trials)


def build_sampler(plan: TunePlan, worker: int = 0, existing: int = 0):
    make = SAMPLERS.get(plan.tuner_name)
    return make(typed_plan_option("tuner", plan.tuner), sampler_seed(plan, worker, existing), plan)
