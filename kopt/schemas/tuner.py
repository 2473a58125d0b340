"""The ``tuner`` group: the keys every tuner shares, plus each Optuna sampler's own options."""

import re
from dataclasses import dataclass
from typing import Any

from kopt.errors import KoptError
from kopt.schemas import param, schema

STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
CROSSOVERS = {"uniform": 2, "blxalpha": 2, "sbx": 2, "vsbx": 2, "undx": 3, "spx": 3}  # name -> parents


@dataclass
class TunerConfig:
    name: str
    study_name: str | None
    n_trials: int | None = param(ge=1)
    metric: str  # val_loss or val_<metric> (kopt.schemas.metrics): checked in check()
    direction: str = param(choices=("auto", "maximize", "minimize"))
    storage: str | None
    n_workers: int = param(ge=1)
    max_failures: int = param(ge=1)
    timeout: float | None = param(gt=0)
    heartbeat_interval: int = param(ge=1)
    grace_period: int = param(ge=1)
    max_retry: int = param(ge=0)
    retrain_best: bool
    plots: bool
    keep_models: int = param(ge=0)
    # multi-objective search, constraints, warm start (kopt.tune.planning.objectives, kopt.tune.planning.warmstart)
    objectives: list[str] | None
    constraints: dict[str, Any] | None
    pick: str | None
    enqueue: list[dict[str, Any]] | None
    warm_start: str | None

    def check(self, prefix: str) -> None:
        if self.study_name is not None and not STUDY_NAME.match(self.study_name):
            raise KoptError(
                f"{prefix}.study_name={self.study_name!r}: allowed: letters, digits, '.', '_' and '-' "
                "(at most 100, not starting with '.' or '-')"
            )
        if self.n_trials is None and self.name != "grid":
            raise KoptError(
                f"{prefix}.n_trials=null: only tuner=grid can run until its grid is exhausted; allowed: >= 1"
            )
        from kopt.procs import usable_cores
        from kopt.schemas import files

        if files["check"] and self.n_workers > usable_cores():  # a fact of this machine, like its data files
            raise KoptError(
                f"{prefix}.n_workers={self.n_workers} is out of range; allowed: 1 .. {usable_cores()} "
                "(the cores this process may use; more machines join with kopt worker)"
            )
        if self.grace_period <= self.heartbeat_interval:
            raise KoptError(
                f"{prefix}.grace_period={self.grace_period} with {prefix}.heartbeat_interval="
                f"{self.heartbeat_interval}: allowed: grace_period > heartbeat_interval"
            )
        from kopt.schemas.metrics import check_monitor, direction

        check_monitor(self.metric, None, "auto", f"{prefix}.metric")
        wrong = "minimize" if direction(self.metric) == "maximize" else "maximize"
        if self.direction == wrong:
            raise KoptError(
                f"{prefix}.direction={wrong} with {prefix}.metric={self.metric}: allowed: auto or "
                f"{'maximize' if wrong == 'minimize' else 'minimize'}"
            )
        from kopt.schemas.objectives import check_options

        check_options(self, prefix)

    @property
    def resolved_direction(self) -> str:
        if self.direction != "auto":
            return self.direction
        from kopt.schemas.metrics import direction

        return direction(self.metric)


@schema("tuner", "auto")
@dataclass
class AutoTuner(TunerConfig):
    # name: auto, the rule in kopt/tune/planning/auto.py
    n_startup_trials: int | None = param(ge=0)  # null: chosen from the space and n_trials


@schema("tuner", "grid")
@dataclass
class GridTuner(TunerConfig):
    """``n_trials: null`` runs until the grid is used up."""


@schema("tuner", "random")
@dataclass
class RandomTuner(TunerConfig):
    """Optuna's RandomSampler: only the shared tuner keys."""


@schema("tuner", "bayes")
@dataclass
class BayesTuner(TunerConfig):
    n_startup_trials: int = param(ge=0)
    n_ei_candidates: int = param(ge=1)
    multivariate: bool
    group: bool | None  # null: on when the space has conditional parameters
    constant_liar: bool


@schema("tuner", "gp")
@dataclass
class GPTuner(TunerConfig):
    n_startup_trials: int = param(ge=0)
    deterministic_objective: bool


@schema("tuner", "cmaes")
@dataclass
class CmaEsTuner(TunerConfig):
    n_startup_trials: int = param(ge=0)
    sigma0: float | None = param(gt=0)
    popsize: int | None = param(ge=2)
    use_separable_cma: bool
    with_margin: bool
    consider_pruned_trials: bool


GENERATIONS = 5  # the initial population and at least 4 offspring generations
MAX_POPULATION = 50  # Optuna's own default population, used once the budget allows it


def default_population(n_trials: int, crossover: str = "uniform") -> int:
    """``tuner.population_size=null``: the budget split into at least 5 generations (the first one
    random, then 4 of offspring), but never fewer than the crossover's parents nor more than 50."""
    return max(CROSSOVERS[crossover], min(MAX_POPULATION, n_trials // GENERATIONS))


@schema("tuner", "genetic")
@dataclass
class GeneticTuner(TunerConfig):
    population_size: int | None = param(ge=2)  # null: default_population(n_trials)
    mutation_prob: float | None = param(ge=0, le=1)
    crossover: str = param(choices=tuple(CROSSOVERS))
    crossover_prob: float = param(ge=0, le=1)
    swapping_prob: float = param(ge=0, le=1)

    def check(self, prefix: str) -> None:
        super().check(prefix)
        parents = CROSSOVERS[self.crossover]
        if self.population_size is not None and self.population_size < parents:
            raise KoptError(
                f"{prefix}.population_size={self.population_size} is too small for "
                f"{prefix}.crossover={self.crossover}; allowed: >= {parents}"
            )


@schema("tuner", "qmc")
@dataclass
class QMCTuner(TunerConfig):
    qmc_type: str = param(choices=("sobol", "halton"))
    scramble: bool
