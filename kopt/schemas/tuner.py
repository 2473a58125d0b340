"""The ``tuner`` group: the keys every tuner shares. Each option's own keys live with its builder, one
module per option in kopt/tune/planning/tuners/ (docs/architecture.md)."""

import re
from dataclasses import dataclass
from typing import Any

from kopt.errors import KoptError
from kopt.schemas import param

STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class TunerConfig:
    name: str
    study_name: str | None
    n_trials: int | None = param(ge=1)
    metric: str  # auto, val_loss or val_<metric> (kopt.schemas.metrics): checked in check()
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
        if self.grace_period <= self.heartbeat_interval:
            raise KoptError(
                f"{prefix}.grace_period={self.grace_period} with {prefix}.heartbeat_interval="
                f"{self.heartbeat_interval}: allowed: grace_period > heartbeat_interval"
            )
        from kopt.schemas.metrics import AUTO, check_monitor

        check_monitor(self.metric, None, "auto", f"{prefix}.metric")
        if self.metric != AUTO:  # (auto: once the plan knows the task, kopt.tune.planning.plan)
            self.resolved_direction(self.metric, prefix)
        from kopt.schemas.objectives import check_options

        check_options(self, prefix)

    def check_machine(self, prefix: str) -> None:
        from kopt.procs import usable_cores

        if self.n_workers > usable_cores():
            raise KoptError(
                f"{prefix}.n_workers={self.n_workers} is out of range; allowed: 1 .. {usable_cores()} "
                "(the cores this process may use; more machines join with kopt worker)"
            )

    def resolved_direction(self, metric: str, prefix: str = "tuner") -> str:
        """The study's direction for ``metric`` (tuner.metric, auto resolved): tuner.direction, or with
        ``auto`` the metric's own; a direction against the metric's is one line."""
        from kopt.schemas.metrics import direction

        own = direction(metric)
        if self.direction not in ("auto", own):
            shown = f"{prefix}.metric={self.metric}" + (f" (here {metric})" if metric != self.metric else "")
            raise KoptError(f"{prefix}.direction={self.direction} with {shown}: allowed: auto or {own}")
        return own
