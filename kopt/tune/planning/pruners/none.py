"""``pruner=none``: no pruning, every trial trains all its epochs."""

from dataclasses import dataclass

from kopt.schemas import schema
from kopt.schemas.pruner import PrunerConfig
from kopt.tune.planning.pruners import pruner


@schema("pruner", "none")
@dataclass
class NoPruner(PrunerConfig):
    """Only ``name``."""


@pruner("none")
def none(cfg: NoPruner):
    from optuna import pruners

    return pruners.NopPruner()
