"""The ``optimizer`` group: Adam, AdamW, SGD, and a per-step learning-rate schedule
(constant, step, cosine), each with optional linear warm-up; an EMA of the weights (``ema``) and
gradient accumulation (``accumulate``), both Keras' own optimizer options."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
from keras import ops

if TYPE_CHECKING:
    from kopt.schemas.optimizer import OptimizerConfig


@keras.saving.register_keras_serializable(package="kopt")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate as a function of the step, with milestones given in epochs."""

    def __init__(
        self,
        lr: float,
        steps_per_epoch: int,
        total_epochs: int,
        name: str = "constant",
        warmup_epochs: float = 0.0,
        milestones=(),
        gamma: float = 0.1,
        min_lr_ratio: float = 0.0,
    ):
        self.lr, self.steps_per_epoch, self.total_epochs = float(lr), int(steps_per_epoch), int(total_epochs)
        self.name, self.warmup_epochs = name, float(warmup_epochs)
        self.milestones, self.gamma, self.min_lr_ratio = (
            [float(m) for m in milestones],
            float(gamma),
            float(min_lr_ratio),
        )

    def __call__(self, step):
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)
        if self.name == "step":
            passed = sum(ops.cast(epoch >= m, "float32") for m in self.milestones) if self.milestones else 0.0
            lr = self.lr * ops.power(self.gamma, passed)
        elif self.name == "cosine":
            span = max(self.total_epochs - self.warmup_epochs, 1e-8)
            progress = ops.clip((epoch - self.warmup_epochs) / span, 0.0, 1.0)
            low = self.lr * self.min_lr_ratio
            lr = low + 0.5 * (self.lr - low) * (1.0 + ops.cos(math.pi * progress))
        else:
            lr = ops.convert_to_tensor(self.lr, "float32")
        if self.warmup_epochs > 0:
            warm = ops.minimum(1.0, (epoch + 1.0 / self.steps_per_epoch) / self.warmup_epochs)
            lr = lr * warm
        return lr

    def get_config(self):
        return {
            "lr": self.lr,
            "steps_per_epoch": self.steps_per_epoch,
            "total_epochs": self.total_epochs,
            "name": self.name,
            "warmup_epochs": self.warmup_epochs,
            "milestones": self.milestones,
            "gamma": self.gamma,
            "min_lr_ratio": self.min_lr_ratio,
        }


def typed_optimizer(cfg) -> OptimizerConfig:
    """The ``optimizer`` node, typed and checked (a typed config passes through), as the model and
    dataset builders receive theirs (kopt.validate.typed_option)."""
    from kopt.validate import typed_option

    return typed_option("optimizer", cfg)


def build_schedule(cfg, steps_per_epoch: int, epochs: int):
    cfg = typed_optimizer(cfg)
    s = cfg.schedule
    if s.name == "constant" and not s.warmup_epochs:
        return float(cfg.lr)
    horizon = int(s.epochs or epochs)  # schedule.epochs: the retrain stops early on the trial's schedule
    return EpochSchedule(
        cfg.lr, steps_per_epoch, horizon, s.name, s.warmup_epochs, list(s.milestones), s.gamma, s.min_lr_ratio
    )


def ema_per_update(optimizer, steps: int):
    """Make ``optimizer``'s moving average of the weights move once per update, not once per batch.

    Keras updates the average after every batch, also after the ``steps - 1`` batches of an
    accumulation group that leave the weights as they are: the momentum per update was then
    ``ema_momentum ** steps`` (0.9 ** 4 = 0.66). Here the average takes the weights as they are
    until the first update is applied (as Keras does at its first step), then moves with momentum
    ``ema_momentum`` on each update's batch and stays put on the other batches."""
    momentum = float(optimizer.ema_momentum)

    def update(trainable_variables):
        it = optimizer._iterations  # batches (Keras' iterations counts updates)
        first, applies = ops.less(it, steps), ops.equal(ops.mod(it + 1, steps), 0)
        for var, average in zip(trainable_variables, optimizer._model_variables_moving_average):
            if average is not None:
                m = ops.cast(ops.where(first, 0.0, ops.where(applies, momentum, 1.0)), var.dtype)
                average.assign(ops.add(ops.multiply(m, average), ops.multiply(ops.subtract(1, m), var)))

    optimizer._update_model_variables_moving_average = update  # the hook Keras' apply calls on every backend
    return optimizer


def build_optimizer(cfg, steps_per_epoch: int, epochs: int):
    cfg = typed_optimizer(cfg)
    lr = build_schedule(cfg, steps_per_epoch, epochs)
    common = {"learning_rate": lr}
    if cfg.clipnorm:
        common["clipnorm"] = float(cfg.clipnorm)
    if cfg.ema:  # validation, test and model.keras use the average: kopt.training.switches
        common.update(use_ema=True, ema_momentum=float(cfg.ema))
    if cfg.accumulate > 1:  # the schedule still counts batches (Keras' _iterations)
        common["gradient_accumulation_steps"] = int(cfg.accumulate)
    wd = float(cfg.weight_decay or 0.0)
    if cfg.name == "sgd":
        opt = keras.optimizers.SGD(
            momentum=float(cfg.momentum), nesterov=bool(cfg.nesterov), weight_decay=wd or None, **common
        )
    elif cfg.name == "adamw":
        opt = keras.optimizers.AdamW(weight_decay=wd, beta_1=float(cfg.beta_1), beta_2=float(cfg.beta_2), **common)
    else:
        opt = keras.optimizers.Adam(
            beta_1=float(cfg.beta_1), beta_2=float(cfg.beta_2), weight_decay=wd or None, **common
        )
    if cfg.ema and cfg.accumulate > 1:  # optimizer.ema: the momentum per update
        ema_per_update(opt, int(cfg.accumulate))
    return opt


def current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(ops.convert_to_numpy(lr))
