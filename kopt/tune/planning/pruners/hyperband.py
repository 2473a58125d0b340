"""``pruner=hyperband``: several successive-halving brackets with different budgets."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.pruner import PrunerConfig
from kopt.tune.planning.pruners import pruner


@schema("pruner", "hyperband")
@dataclass
class HyperbandPruner(PrunerConfig):
    min_resource: int = param(ge=1)
    max_resource: int | None = param(ge=1)  # null: Optuna's "auto" (steps of the first finished trial)
    reduction_factor: int = param(ge=2)
    bootstrap_count: int = param(ge=0)


@pruner("hyperband")
def hyperband(cfg: HyperbandPruner):
    from optuna import pruners

    return pruners.HyperbandPruner(
        cfg.min_resource, cfg.max_resource or "auto", cfg.reduction_factor, cfg.bootstrap_count
    )
