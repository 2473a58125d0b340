"""``pruner=successive_halving``: asynchronous successive halving, the top 1/reduction_factor kept at each rung."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.pruner import PrunerConfig
from kopt.tune.planning.pruners import pruner


@schema("pruner", "successive_halving")
@dataclass
class SuccessiveHalvingPruner(PrunerConfig):
    min_resource: int | None = param(ge=1)  # null: Optuna's "auto"
    reduction_factor: int = param(ge=2)
    min_early_stopping_rate: int = param(ge=0)
    bootstrap_count: int = param(ge=0)


@pruner("successive_halving")
def successive_halving(cfg: SuccessiveHalvingPruner):
    from optuna import pruners

    return pruners.SuccessiveHalvingPruner(
        cfg.min_resource or "auto", cfg.reduction_factor, cfg.min_early_stopping_rate, cfg.bootstrap_count
    )
