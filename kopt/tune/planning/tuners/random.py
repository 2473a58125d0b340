"""``tuner=random``: Optuna's RandomSampler, independent uniform (or log-uniform) draws."""

from dataclasses import dataclass

from kopt.schemas import schema
from kopt.schemas.tuner import TunerConfig
from kopt.tune.planning.tuners import sampler


@schema("tuner", "random")
@dataclass
class RandomTuner(TunerConfig):
    """Optuna's RandomSampler: only the shared tuner keys."""


@sampler("random")
def random(cfg: RandomTuner, seed: int, plan):
    from optuna.samplers import RandomSampler

    return RandomSampler(seed=seed)
