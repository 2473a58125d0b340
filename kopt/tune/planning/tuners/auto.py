"""``tuner=auto`` (the default): the sampler and its start-up size chosen from the search space and the
budget. Its schema only: the plan replaces it by the option it chooses (kopt.tune.planning.auto)."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.tuner import TunerConfig


@schema("tuner", "auto")
@dataclass
class AutoTuner(TunerConfig):
    n_startup_trials: int | None = param(ge=0)  # null: chosen from the space and n_trials
