"""The ``pruner`` group: one factory per pruner, ``make(options) -> optuna.pruners.BasePruner``.

Pruners see the monitored validation metric once per epoch, at step ``fold * epochs + epoch``,
so the step keeps growing across the folds of a k-fold trial; the Wilcoxon pruner, a paired test
made for independent instances, sees one value per finished fold, at step ``fold``
(kopt.tune.running.trial.FoldPruningCallback)."""

from __future__ import annotations

from kopt.registry import Registry

PRUNERS = Registry("pruner")
pruner = PRUNERS.register


@pruner("none")
def none(opts: dict):
    from optuna.pruners import NopPruner

    return NopPruner()


def warmup_steps(opts: dict) -> int:
    """Optuna's n_warmup_steps for ``n_warmup_steps`` epochs that are never pruned: steps count
    epochs from 1 (kopt.tune.running.trial.PruningCallback), and Optuna may prune at step == n_warmup_steps."""
    return int(opts["n_warmup_steps"]) + 1


@pruner("median")
def median(opts: dict):
    from optuna.pruners import MedianPruner

    return MedianPruner(
        opts["n_startup_trials"], warmup_steps(opts), opts["interval_steps"], n_min_trials=opts["n_min_trials"]
    )


@pruner("percentile")
def percentile(opts: dict):
    from optuna.pruners import PercentilePruner

    return PercentilePruner(
        opts["percentile"],
        opts["n_startup_trials"],
        warmup_steps(opts),
        opts["interval_steps"],
        n_min_trials=opts["n_min_trials"],
    )


@pruner("successive_halving")
def successive_halving(opts: dict):
    from optuna.pruners import SuccessiveHalvingPruner

    return SuccessiveHalvingPruner(
        opts["min_resource"] or "auto",
        opts["reduction_factor"],
        opts["min_early_stopping_rate"],
        opts["bootstrap_count"],
    )


@pruner("hyperband")
def hyperband(opts: dict):
    from optuna.pruners import HyperbandPruner

    return HyperbandPruner(
        opts["min_resource"], opts["max_resource"] or "auto", opts["reduction_factor"], opts["bootstrap_count"]
    )


@pruner("wilcoxon")
def wilcoxon(opts: dict):
    from optuna.pruners import WilcoxonPruner

    return WilcoxonPruner(p_threshold=opts["p_threshold"], n_startup_steps=opts["n_startup_steps"])


@pruner("patient")
def patient(opts: dict):
    from optuna.pruners import MedianPruner, PatientPruner

    wrapped = MedianPruner(n_startup_trials=opts["n_startup_trials"]) if opts["wrapped"] == "median" else None
    return PatientPruner(wrapped, opts["patience"], opts["min_delta"])


def build_pruner(opts: dict):
    return PRUNERS.get(opts["name"])(opts)
