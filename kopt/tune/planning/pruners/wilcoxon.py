"""``pruner=wilcoxon``: a paired Wilcoxon signed-rank test against the best trial, one value per finished fold."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.pruner import PrunerConfig
from kopt.tune.planning.pruners import pruner


@schema("pruner", "wilcoxon")
@dataclass
class WilcoxonPruner(PrunerConfig):
    p_threshold: float = param(gt=0, le=1)
    n_startup_steps: int = param(ge=0)


@pruner("wilcoxon")
def wilcoxon(cfg: WilcoxonPruner):
    from optuna import pruners

    return pruners.WilcoxonPruner(p_threshold=cfg.p_threshold, n_startup_steps=cfg.n_startup_steps)
