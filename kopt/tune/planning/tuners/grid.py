"""``tuner=grid``: Optuna's GridSampler over every combination of the searched values."""

from dataclasses import dataclass

from kopt.schemas import schema
from kopt.schemas.tuner import TunerConfig
from kopt.tune.planning.tuners import sampler


@schema("tuner", "grid")
@dataclass
class GridTuner(TunerConfig):
    """``n_trials: null`` runs until the grid is used up."""


@sampler("grid", shared_seed=True)
def grid(cfg: GridTuner, seed: int, plan):
    from optuna.samplers import GridSampler

    class Grid(GridSampler):
        def after_trial(self, study, trial, state, values):
            """GridSampler calls study.stop(), which only works inside study.optimize(); kopt's
            own loop stops claiming trials when the grid is used up."""

    return Grid(plan.space.grid(), seed=seed)
