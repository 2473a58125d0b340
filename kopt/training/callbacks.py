"""Keras callbacks: metrics log, best-epoch tracking and terminal progress."""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from kopt.console import console, eta, is_tty, log_lines, progress_bar
from kopt.optim import current_lr
from kopt.rundir import MetricsWriter


class MetricsLogger(keras.callbacks.Callback):
    """Appends one row per epoch to metrics.jsonl: fold, epoch, every Keras log value, lr, time_s."""

    def __init__(self, writer: MetricsWriter, fold: int):
        super().__init__()
        self.writer, self.fold = writer, fold

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"fold": self.fold, "epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"})
        row["lr"] = current_lr(self.model.optimizer)
        row["time_s"] = time.perf_counter() - self._t0
        self.writer.append(row)


class BestEpoch(keras.callbacks.Callback):
    """Remembers the weights of the best epoch on a validation metric and restores them at the end.

    With ``protocol="fixed"`` (see :mod:`kopt.protocol`) the last epoch is the kept one, whatever
    validation says: its logs are remembered, and the model already holds its weights."""

    def __init__(self, monitor: str = "val_accuracy", protocol: str = "best_epoch"):
        super().__init__()
        self.monitor, self.keep_last = monitor, protocol == "fixed"
        from kopt.schemas.metrics import direction

        up = direction(monitor) == "maximize"  # accuracy, auc, r2, ...; loss, mae, rmse go down
        self.better = np.greater if up else np.less
        self.best = -math.inf if up else math.inf
        self.best_epoch = 0
        self.best_weights = None
        self.best_logs: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if self.keep_last:
            self.best_epoch, self.best_logs = epoch + 1, {k: float(v) for k, v in (logs or {}).items()}
            self.best = float(value) if value is not None else math.nan
            return
        if value is None or not math.isfinite(float(value)):
            return
        if self.best_weights is None or self.better(float(value), self.best):
            self.best, self.best_epoch = float(value), epoch + 1
            self.best_weights = self.model.get_weights()
            self.best_logs = {k: float(v) for k, v in (logs or {}).items()}

    def restore(self) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class LineProgress(keras.callbacks.Callback):
    """One plain line per epoch (logs, CI). No batch hooks, so Keras keeps its fast path."""

    def __init__(self, fold: int, n_folds: int, epochs: int, steps: int):
        super().__init__()
        self.fold, self.n_folds, self.epochs, self.steps = fold, n_folds, epochs, steps
        self.times: list[float] = []  # this fold's epoch times, for the ETA

    def eta(self, epoch: int) -> str:
        """Time left for the run: this fold's epochs after ``epoch``, then the folds after it, each
        with a first epoch as slow as this fold's (it traces the graph) and the rest at the mean."""
        if not self.times:
            return ""
        first, later = self.times[0], self.times[1:] or self.times
        mean = sum(later) / len(later)
        left = (self.epochs - epoch - 1) * mean + (self.n_folds - self.fold - 1) * (first + (self.epochs - 1) * mean)
        return eta(left)

    def label(self, epoch: int) -> str:
        fold = f"fold {self.fold} of {self.n_folds}  " if self.n_folds > 1 else ""  # 0-based, as in the files
        return f"{fold}epoch {epoch + 1}/{self.epochs}"

    @staticmethod
    def stats(logs) -> str:
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        return "  ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items() if k in keys)

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def line(self, epoch: int, logs) -> str:
        self.times.append(time.perf_counter() - self._t0)
        return f"{self.label(epoch)}  {self.stats(logs)}  {self.times[-1]:.1f}s  {self.eta(epoch)}".rstrip()

    def on_epoch_end(self, epoch, logs=None):
        console.print(self.line(epoch, logs))


class RichProgress(LineProgress):
    """A rich progress bar per epoch with live loss/accuracy (terminals only)."""

    async_safe = True  # rich's Progress is thread-safe: Keras may call the batch hook off-thread

    def on_train_begin(self, logs=None):
        self.progress = progress_bar("{task.fields[run_eta]}", console=console)
        self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()
        run_eta = self.eta(epoch - 1) if self.times else ""
        self.task = self.progress.add_task(
            self.label(epoch), total=self.steps, stats="", run_eta=f"(run {run_eta})" if run_eta else ""
        )

    def on_train_batch_end(self, batch, logs=None):
        if logs:
            stats = f"loss {float(logs.get('loss', 0)):.4f} acc {float(logs.get('accuracy', 0)):.4f}"
            self.progress.update(self.task, completed=batch + 1, stats=stats)

    def on_epoch_end(self, epoch, logs=None):
        self.progress.update(self.task, completed=self.steps, stats=self.stats(logs))
        log_lines(self.line(epoch, logs))  # the bar stays on the terminal; the log gets the epoch's line

    def on_train_end(self, logs=None):
        self.progress.stop()


def Progress(fold: int, n_folds: int, epochs: int, steps: int) -> keras.callbacks.Callback:
    """Live bars on a terminal, one line per epoch otherwise."""
    cls = RichProgress if is_tty() else LineProgress
    return cls(fold, n_folds, epochs, steps)
