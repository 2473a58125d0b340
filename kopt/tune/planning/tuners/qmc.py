"""``tuner=qmc``: Optuna's QMCSampler, a low-discrepancy sequence that covers the space evenly."""

from dataclasses import dataclass

from kopt.schemas import param, schema
from kopt.schemas.tuner import TunerConfig
from kopt.tune.planning.tuners import sampler


@schema("tuner", "qmc")
@dataclass
class QMCTuner(TunerConfig):
    qmc_type: str = param(choices=("sobol", "halton"))
    scramble: bool


@sampler("qmc", shared_seed=True)
def qmc(cfg: QMCTuner, seed: int, plan):
    from optuna.samplers import QMCSampler

    return QMCSampler(
        qmc_type=cfg.qmc_type,
        scramble=cfg.scramble,
        seed=seed,
        warn_independent_sampling=False,
        warn_asynchronous_seeding=False,
    )
