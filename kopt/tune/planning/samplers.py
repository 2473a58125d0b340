"""The ``tuner`` group: one factory per tuner, all with the signature
``make(options, seed, plan) -> optuna.samplers.BaseSampler``. The seed comes from ``seed``
(plus the stream number a process takes when it first draws a trial, so processes sharing a study
do not draw the same values: see kopt.tune.trials.claim.take_sampler_stream).

Fact stated at registration: ``shared_seed`` (the random state must be the same in every worker
and every run: the grid's order and the QMC sequence's scrambling map the ids they keep in the
storage to parameter values)."""

from __future__ import annotations

from kopt.registry import Registry
from kopt.tune.planning.plan import TunePlan, check_tuner_extras

SAMPLERS = Registry("tuner")
sampler = SAMPLERS.register


@sampler("grid", shared_seed=True)
def grid(opts: dict, seed: int, plan: TunePlan):
    from optuna.samplers import GridSampler

    class Grid(GridSampler):
        def after_trial(self, study, trial, state, values):
            """GridSampler calls study.stop(), which only works inside study.optimize(); kopt's
            own loop stops claiming trials when the grid is used up."""

    return Grid(plan.space.grid(), seed=seed)


@sampler("random")
def random(opts: dict, seed: int, plan: TunePlan):
    from optuna.samplers import RandomSampler

    return RandomSampler(seed=seed)


@sampler("bayes")
def bayes(opts: dict, seed: int, plan: TunePlan):
    from optuna.samplers import TPESampler

    group = opts.get("group")
    if group is None:
        group = bool(plan.space.conditional)
    return TPESampler(
        seed=seed,
        n_startup_trials=opts["n_startup_trials"],
        n_ei_candidates=opts["n_ei_candidates"],
        multivariate=opts["multivariate"] or group,
        group=group,
        constant_liar=opts["constant_liar"],
    )


@sampler("gp")
def gp(opts: dict, seed: int, plan: TunePlan):
    check_tuner_extras("gp")
    from optuna.samplers import GPSampler

    return GPSampler(
        seed=seed, n_startup_trials=opts["n_startup_trials"], deterministic_objective=opts["deterministic_objective"]
    )


@sampler("cmaes")
def cmaes(opts: dict, seed: int, plan: TunePlan):
    check_tuner_extras("cmaes")
    from optuna.samplers import CmaEsSampler, RandomSampler

    return CmaEsSampler(
        seed=seed,
        n_startup_trials=opts["n_startup_trials"],
        sigma0=opts["sigma0"],
        popsize=opts["popsize"],
        use_separable_cma=opts["use_separable_cma"],
        with_margin=opts["with_margin"],
        consider_pruned_trials=opts["consider_pruned_trials"],
        independent_sampler=RandomSampler(seed=seed),
        warn_independent_sampling=False,
    )


@sampler("genetic")
def genetic(opts: dict, seed: int, plan: TunePlan):
    from optuna.samplers import NSGAIISampler, nsgaii

    crossovers = {
        "uniform": lambda: nsgaii.UniformCrossover(opts["swapping_prob"]),
        "blxalpha": nsgaii.BLXAlphaCrossover,
        "sbx": nsgaii.SBXCrossover,
        "vsbx": nsgaii.VSBXCrossover,
        "undx": nsgaii.UNDXCrossover,
        "spx": nsgaii.SPXCrossover,
    }
    from kopt.schemas.tuner import default_population

    population = opts["population_size"] or default_population(plan.n_trials, opts["crossover"])
    return NSGAIISampler(
        seed=seed,
        population_size=population,
        mutation_prob=opts["mutation_prob"],
        crossover=crossovers[opts["crossover"]](),
        crossover_prob=opts["crossover_prob"],
        swapping_prob=opts["swapping_prob"],
    )


@sampler("qmc", shared_seed=True)
def qmc(opts: dict, seed: int, plan: TunePlan):
    from optuna.samplers import QMCSampler

    return QMCSampler(
        qmc_type=opts["qmc_type"],
        scramble=opts["scramble"],
        seed=seed,
        warn_independent_sampling=False,
        warn_asynchronous_seeding=False,
    )


def sampler_seed(plan: TunePlan, worker: int = 0, existing: int = 0) -> int:
    """``seed`` for a new study's first process (stream 0); other streams (``worker``), and runs that resume
    a study with ``existing`` trials, get other seeds (else a resumed random search would redraw its values)."""
    if SAMPLERS.fact(plan.tuner_name, "shared_seed", False):
        return plan.seed
    return (plan.seed + 1_000_003 * worker + 7_919 * existing) % 2**32


def build_sampler(plan: TunePlan, worker: int = 0, existing: int = 0):
    return SAMPLERS.get(plan.tuner_name)(plan.tuner, sampler_seed(plan, worker, existing), plan)
