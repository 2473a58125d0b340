from dataclasses import dataclass

from kopt.errors import KoptError
from kopt.schemas import param, schema

SCHEDULES = ("constant", "step", "cosine")


@dataclass
class ScheduleConfig:
    name: str = param(choices=SCHEDULES)
    # the schedule's length in epochs; null = trainer.epochs. The retrain after tuning stops at the
    # best trial's best epoch but keeps the trial's schedule, so it sees the same learning rates
    epochs: int | None = param(ge=1)
    warmup_epochs: float = param(ge=0)
    # step: multiply the lr by `gamma` at each milestone (in epochs; fractions allowed)
    milestones: list[float] = param(ge=0)
    gamma: float = param(gt=0, le=1)
    # cosine: decay to lr * min_lr_ratio at the last epoch
    min_lr_ratio: float = param(ge=0, le=1)

    def check(self, prefix: str) -> None:
        if self.name == "step" and not self.milestones:
            raise KoptError(f"{prefix}.milestones is empty; allowed: a list of epochs, e.g. [30, 60]")
        if list(self.milestones) != sorted(self.milestones):
            raise KoptError(f"{prefix}.milestones={list(self.milestones)} must be increasing")


@schema("optimizer", "adam", "adamw", "sgd")
@dataclass
class OptimizerConfig:
    name: str = param(choices=("adam", "adamw", "sgd"))
    lr: float = param(gt=0)
    weight_decay: float = param(ge=0)
    momentum: float = param(ge=0, lt=1)
    nesterov: bool
    beta_1: float = param(ge=0, lt=1)
    beta_2: float = param(ge=0, lt=1)
    clipnorm: float | None = param(gt=0)
    ema: float | None = param(gt=0, lt=1)  # the EMA's momentum (Keras' use_ema, ema_momentum); null: off
    accumulate: int = param(ge=1)  # batches per update (Keras' gradient_accumulation_steps)
    schedule: ScheduleConfig
