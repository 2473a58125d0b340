"""``tuner=cmaes``: Optuna's CmaEsSampler for numeric parameters (choices sampled at random)."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.tuner import TunerConfig
from kopt.tune.planning.tuners import sampler


@schema("tuner", "cmaes")
@dataclass
class CmaEsTuner(TunerConfig):
    n_startup_trials: int = param(ge=0)
    sigma0: float | None = param(gt=0)
    popsize: int | None = param(ge=2)
    use_separable_cma: bool
    with_margin: bool
    consider_pruned_trials: bool


@sampler("cmaes")
def cmaes(cfg: CmaEsTuner, seed: int, plan):
    from kopt.tune.planning.plan import check_tuner_extras

    check_tuner_extras("cmaes")
    from optuna.samplers import CmaEsSampler, RandomSampler

    return CmaEsSampler(
        seed=seed,
        n_startup_trials=cfg.n_startup_trials,
        sigma0=cfg.sigma0,
        popsize=cfg.popsize,
        use_separable_cma=cfg.use_separable_cma,
        with_margin=cfg.with_margin,
        consider_pruned_trials=cfg.consider_pruned_trials,
        independent_sampler=RandomSampler(seed=seed),
        warn_independent_sampling=False,
    )
