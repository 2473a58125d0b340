"""``pruner=median``: prune a trial worse than the median of earlier trials at the same epoch."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.pruner import PrunerConfig
from kopt.tune.planning.pruners import pruner, warmup_steps


@schema("pruner", "median")
@dataclass
class MedianPruner(PrunerConfig):
    n_startup_trials: int = param(ge=0)
    n_warmup_steps: int = param(ge=0)
    interval_steps: int = param(ge=1)
    n_min_trials: int = param(ge=1)


@pruner("median")
def median(cfg: MedianPruner):
    from optuna import pruners

    return pruners.MedianPruner(
        cfg.n_startup_trials, warmup_steps(cfg), cfg.interval_steps, n_min_trials=cfg.n_min_trials
    )
