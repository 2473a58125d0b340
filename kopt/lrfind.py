"""The learning-rate range test (Smith 2017, "Cyclical learning rates", section 3.3).

The config's model and optimizer train on the first fold's training data for ``steps`` batches,
the learning rate growing exponentially from ``min_lr`` to ``max_lr``; the loss of every batch is
recorded, smoothed (an exponential moving average, bias-corrected) and the test stops once it
diverges (four times the lowest smoothed loss). The suggestion is the rate where the smoothed
loss falls fastest (per unit of log rate) before its minimum. Writes into ``run_dir``:

  lr_find.csv   step, lr, loss, smoothed_loss
  lr_find.png   smoothed loss against the rate (log axis), the suggestion marked
  lr_find.json  the range, the steps run, the suggestion and the config's choices
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from kopt.rundir import atomic_write_json, atomic_write_text

SMOOTHING = 0.9  # about the last 10 batches (fastai's 0.98 lags ~50 of its 100 steps)
DIVERGED = 4.0  # stop once the smoothed loss exceeds this many times its minimum


def rates(min_lr: float, max_lr: float, steps: int) -> np.ndarray:
    """The rate of each step: exponentially spaced from ``min_lr`` to ``max_lr`` inclusive."""
    return np.geomspace(min_lr, max_lr, steps) if steps > 1 else np.array([min_lr])


def smooth(losses) -> np.ndarray:
    avg, out = 0.0, []
    for i, loss in enumerate(losses, 1):
        avg = SMOOTHING * avg + (1 - SMOOTHING) * float(loss)
        out.append(avg / (1 - SMOOTHING**i))
    return np.array(out)


def suggest(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    """The rate of the steepest descent of the smoothed loss before its minimum (one of ``lrs``);
    with too few points for a slope, a tenth of the rate at the minimum, kept inside ``lrs``."""
    finite = np.isfinite(smoothed)
    lrs, smoothed = lrs[finite], smoothed[finite]
    if not len(lrs):
        raise ValueError("no finite loss at any learning rate")
    low = int(np.argmin(smoothed))
    skip = min(len(lrs) // 10, max(low - 1, 0))  # the first steps: the average is still settling
    if low - skip >= 2:
        slopes = np.gradient(smoothed[skip : low + 1], np.log(lrs[skip : low + 1]))
        return float(lrs[skip + int(np.argmin(slopes))])
    return float(np.clip(lrs[low] / 10, lrs[0], lrs[-1]))


def run_range_test(cfg: DictConfig, run_dir: Path, min_lr: float, max_lr: float, steps: int, echo=print) -> dict:
    from kopt.runtime import setup_tensorflow

    tr = cfg.trainer
    setup_tensorflow(int(cfg.seed), tr.deterministic, tr.intra_threads, tr.inter_threads, tr.verbose)
    import keras

    from kopt.data.datasets import load_dataset
    from kopt.data.pipeline import Normalizer, train_stream
    from kopt.data.splits import make_splits
    from kopt.models import build_model
    from kopt.optim import build_optimizer
    from kopt.training import switches

    seed = int(cfg.seed)
    data = load_dataset(cfg.dataset, seed)
    splits = make_splits(cfg.split, data.y, seed, fixed_test=data.test_idx, groups=data.groups, order=data.order)
    from kopt.data.table import fill_vector, filled, fold_fills

    train_idx = splits.folds[0][0]
    data = fold_fills(data, splits.folds[:1])  # a table's missing numbers, as training fills fold 0's
    x = filled(data.x[train_idx], fill_vector(data.encoding, 0))
    x = Normalizer.fit(x)(x)
    keras.utils.set_random_seed(seed * 1000)
    opt_cfg = OmegaConf.merge(cfg.optimizer, {"schedule": {"name": "constant", "warmup_epochs": 0}, "ema": None})
    with switches.precision(tr):
        model = build_model(cfg.model, cfg.regularizer, data.input_shape, data.num_classes)
    model.compile(
        optimizer=build_optimizer(opt_cfg, 1, steps),
        loss=switches.loss(tr, False, data.num_classes),
        metrics=["accuracy"],
    )
    schedule = rates(min_lr, max_lr, steps)
    losses: list[float] = []

    class RangeTest(keras.callbacks.Callback):  # one batch per "epoch": Keras' logs are that batch's loss
        def on_epoch_begin(self, epoch, logs=None):
            opt = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
            opt.learning_rate.assign(float(schedule[epoch]))

        def on_epoch_end(self, epoch, logs=None):
            loss = float((logs or {}).get("loss", math.nan))
            losses.append(loss)
            s = smooth(losses)
            if not math.isfinite(loss) or s[-1] > DIVERGED * float(np.nanmin(s)):
                self.model.stop_training = True

    t0 = time.time()
    stream = train_stream(x, data.y[train_idx], int(tr.batch_size), seed=seed * 1000)
    model.fit(stream, epochs=steps, steps_per_epoch=1, callbacks=[RangeTest()], verbose=0)
    lrs, smoothed = schedule[: len(losses)], smooth(losses)
    lr = suggest(lrs, smoothed)
    result = {
        "suggested_lr": lr,
        "min_lr": float(min_lr),
        "max_lr": float(max_lr),
        "steps": int(steps),
        "steps_run": len(losses),
        "stopped_early": len(losses) < steps,
        "duration_s": time.time() - t0,
        "optimizer": str(cfg.optimizer.name),
        "model": str(cfg.model.name),
        "dataset": str(cfg.dataset.name),
    }
    write_outputs(run_dir, lrs, np.array(losses), smoothed, lr)
    atomic_write_json(run_dir / "lr_find.json", result)
    return result


def write_outputs(run_dir: Path, lrs, losses, smoothed, suggested: float) -> None:
    buf = io.StringIO()
    buf.write("step,lr,loss,smoothed_loss\n")
    for i, (lr, loss, s) in enumerate(zip(lrs, losses, smoothed)):
        buf.write(f"{i},{lr:.6e},{loss:.6g},{s:.6g}\n")
    atomic_write_text(run_dir / "lr_find.csv", buf.getvalue())
    from kopt import plotstyle as style

    fig = style.figure((6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(lrs, losses, color="#bbbbbb", linewidth=0.8, label="loss")
    ax.plot(lrs, smoothed, color="#1f77b4", label="smoothed")
    ax.axvline(suggested, color=style.BEST, linestyle="--", label=f"suggested {suggested:.2e}")
    ax.set_xscale("log")
    finite = smoothed[np.isfinite(smoothed)]
    if len(finite):  # the divergence at the end would squash the curve
        ax.set_ylim(
            float(min(finite.min(), np.nanmin(losses))) * 0.9,
            float(min(finite.max(), finite[0] * 1.5, DIVERGED * finite.min())),
        )
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test")
    ax.legend(fontsize=style.FONT - 1, frameon=False)
    style.save(fig, run_dir / "lr_find.png")
