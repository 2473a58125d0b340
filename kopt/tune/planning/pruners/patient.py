"""``pruner=patient``: prune only after ``patience`` epochs without improvement, then ask the wrapped pruner."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.pruner import PrunerConfig
from kopt.tune.planning.pruners import pruner


@schema("pruner", "patient")
@dataclass
class PatientPruner(PrunerConfig):
    patience: int = param(ge=0)
    min_delta: float = param(ge=0)
    wrapped: str = param(choices=("none", "median"))
    n_startup_trials: int = param(ge=0)  # of the wrapped median pruner


@pruner("patient")
def patient(cfg: PatientPruner):
    from optuna import pruners

    wrapped = pruners.MedianPruner(n_startup_trials=cfg.n_startup_trials) if cfg.wrapped == "median" else None
    return pruners.PatientPruner(wrapped, cfg.patience, cfg.min_delta)
