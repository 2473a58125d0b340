"""``tuner=genetic``: a genetic algorithm, Optuna's NSGAIISampler on a single objective."""

from dataclasses import dataclass

from kopt.errors import KoptError
from kopt.schemas import param, schema
from kopt.schemas.tuner import TunerConfig
from kopt.tune.planning.tuners import sampler

CROSSOVERS = {"uniform": 2, "blxalpha": 2, "sbx": 2, "vsbx": 2, "undx": 3, "spx": 3}  # name -> parents
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


@sampler("genetic")
def genetic(cfg: GeneticTuner, seed: int, plan):
    from optuna.samplers import NSGAIISampler, nsgaii

    crossovers = {
        "uniform": lambda: nsgaii.UniformCrossover(cfg.swapping_prob),
        "blxalpha": nsgaii.BLXAlphaCrossover,
        "sbx": nsgaii.SBXCrossover,
        "vsbx": nsgaii.VSBXCrossover,
        "undx": nsgaii.UNDXCrossover,
        "spx": nsgaii.SPXCrossover,
    }
    population = cfg.population_size or default_population(plan.n_trials, cfg.crossover)
    return NSGAIISampler(
        seed=seed,
        population_size=population,
        mutation_prob=cfg.mutation_prob,
        crossover=crossovers[cfg.crossover](),
        crossover_prob=cfg.crossover_prob,
        swapping_prob=cfg.swapping_prob,
    )
