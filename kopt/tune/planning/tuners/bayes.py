"""``tuner=bayes``: Optuna's TPESampler (Tree-structured Parzen Estimator)."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.tuner import TunerConfig
from kopt.tune.planning.tuners import sampler


@schema("tuner", "bayes")
@dataclass
class BayesTuner(TunerConfig):
    n_startup_trials: int = param(ge=0)
    n_ei_candidates: int = param(ge=1)
    multivariate: bool
    group: bool | None  # null: on when the space has conditional parameters
    constant_liar: bool


@sampler("bayes")
def bayes(cfg: BayesTuner, seed: int, plan):
    from optuna.samplers import TPESampler

    group = cfg.group
    if group is None:
        group = bool(plan.space.conditional)
    return TPESampler(
        seed=seed,
        n_startup_trials=cfg.n_startup_trials,
        n_ei_candidates=cfg.n_ei_candidates,
        multivariate=cfg.multivariate or group,
        group=group,
        constant_liar=cfg.constant_liar,
    )
