"""The ``pruner`` group: Optuna pruners, fed the monitored validation metric after every epoch."""

from dataclasses import dataclass

from kopt.schemas import param, schema


@schema("pruner", "none")
@dataclass
class NoPruner:
    name: str


@schema("pruner", "auto")
@dataclass
class AutoPruner:
    name: str  # auto: the rule in kopt/tune/planning/auto.py


@schema("pruner", "wilcoxon")
@dataclass
class WilcoxonPruner:
    name: str
    p_threshold: float = param(gt=0, le=1)
    n_startup_steps: int = param(ge=0)


@schema("pruner", "median")
@dataclass
class MedianPruner:
    name: str
    n_startup_trials: int = param(ge=0)
    n_warmup_steps: int = param(ge=0)
    interval_steps: int = param(ge=1)
    n_min_trials: int = param(ge=1)


@schema("pruner", "percentile")
@dataclass
class PercentilePruner(MedianPruner):
    percentile: float = param(ge=0, le=100)


@schema("pruner", "successive_halving")
@dataclass
class SuccessiveHalvingPruner:
    name: str
    min_resource: int | None = param(ge=1)  # null: Optuna's "auto"
    reduction_factor: int = param(ge=2)
    min_early_stopping_rate: int = param(ge=0)
    bootstrap_count: int = param(ge=0)


@schema("pruner", "hyperband")
@dataclass
class HyperbandPruner:
    name: str
    min_resource: int = param(ge=1)
    max_resource: int | None = param(ge=1)  # null: Optuna's "auto" (steps of the first finished trial)
    reduction_factor: int = param(ge=2)
    bootstrap_count: int = param(ge=0)


@schema("pruner", "patient")
@dataclass
class PatientPruner:
    name: str
    patience: int = param(ge=0)
    min_delta: float = param(ge=0)
    wrapped: str = param(choices=("none", "median"))
    n_startup_trials: int = param(ge=0)  # of the wrapped median pruner
