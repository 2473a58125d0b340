"""``pruner=percentile``: prune a trial below a percentile of earlier trials at the same epoch."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.tune.planning.pruners import pruner, warmup_steps
from kopt.tune.planning.pruners.median import MedianPruner


@schema("pruner", "percentile")
@dataclass
class PercentilePruner(MedianPruner):
    percentile: float = param(ge=0, le=100)


@pruner("percentile")
def percentile(cfg: PercentilePruner):
    from optuna import pruners

    return pruners.PercentilePruner(
        cfg.percentile, cfg.n_startup_trials, warmup_steps(cfg), cfg.interval_steps, n_min_trials=cfg.n_min_trials
    )
