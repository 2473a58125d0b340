"""The ``pruner`` group: Optuna pruners, fed the monitored validation metric after every epoch."""

from dataclasses import dataclass
from typing import Optional

from kopt.schemas import param, schema


@schema("pruner", "none")
@dataclass
class NoPruner:
    name: str = "none"


@schema("pruner", "auto")
@dataclass
class AutoPruner:
    name: str = "auto"  # the rule: kopt/tune/auto.py


@schema("pruner", "wilcoxon")
@dataclass
class WilcoxonPruner:
    name: str = "wilcoxon"
    p_threshold: float = param(0.1, gt=0, le=1)
    n_startup_steps: int = param(2, ge=0)


@schema("pruner", "median")
@dataclass
class MedianPruner:
    name: str = "median"
    n_startup_trials: int = param(5, ge=0)
    n_warmup_steps: int = param(0, ge=0)
    interval_steps: int = param(1, ge=1)
    n_min_trials: int = param(1, ge=1)


@schema("pruner", "percentile")
@dataclass
class PercentilePruner(MedianPruner):
    name: str = "percentile"
    percentile: float = param(25.0, ge=0, le=100)


@schema("pruner", "successive_halving")
@dataclass
class SuccessiveHalvingPruner:
    name: str = "successive_halving"
    min_resource: Optional[int] = param(None, ge=1)  # null: Optuna's "auto"
    reduction_factor: int = param(4, ge=2)
    min_early_stopping_rate: int = param(0, ge=0)
    bootstrap_count: int = param(0, ge=0)


@schema("pruner", "hyperband")
@dataclass
class HyperbandPruner:
    name: str = "hyperband"
    min_resource: int = param(1, ge=1)
    max_resource: Optional[int] = param(None, ge=1)  # null: Optuna's "auto" (steps of the first finished trial)
    reduction_factor: int = param(3, ge=2)
    bootstrap_count: int = param(0, ge=0)


@schema("pruner", "patient")
@dataclass
class PatientPruner:
    name: str = "patient"
    patience: int = param(2, ge=0)
    min_delta: float = param(0.0, ge=0)
    wrapped: str = param("median", choices=("none", "median"))
    n_startup_trials: int = param(5, ge=0)  # of the wrapped median pruner
