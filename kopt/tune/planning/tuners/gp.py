"""``tuner=gp``: Optuna's GPSampler (Gaussian-process Bayesian optimisation; needs PyTorch)."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.tuner import TunerConfig
from kopt.tune.planning.tuners import sampler


@schema("tuner", "gp")
@dataclass
class GPTuner(TunerConfig):
    n_startup_trials: int = param(ge=0)
    deterministic_objective: bool


@sampler("gp")
def gp(cfg: GPTuner, seed: int, plan):
    from kopt.tune.planning.plan import check_tuner_extras

    check_tuner_extras("gp")
    from optuna.samplers import GPSampler

    return GPSampler(
        seed=seed, n_startup_trials=cfg.n_startup_trials, deterministic_objective=cfg.deterministic_objective
    )
