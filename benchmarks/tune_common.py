"""Helpers shared by the tune benchmarks (run a kopt study in this process, RSS, best-so-far curves).
Results are written with common.write_result, as every benchmark's."""

from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rss_mib() -> float:
    """This process's resident set size (psutil where installed, else /proc/self/statm)."""
    try:
        import psutil
    except ImportError:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return psutil.Process().memory_info().rss / 2**20


def cnn_config(**values):
    """kopt's model=cnn node (configs/model/cnn.yaml) with ``values`` set, for KerasTuner's hypermodel."""
    from omegaconf import OmegaConf

    from kopt.paths import config_dir

    cfg = OmegaConf.load(config_dir() / "model" / "cnn.yaml")
    cfg.update(values)
    return cfg


def plan_study(workdir: Path, overrides: list[str]):
    """The TunePlan of `kopt tune OVERRIDES` (composed and checked exactly as the command does)."""
    from kopt.commands.tune import quote_search_overrides, validate_tune
    from kopt.compose import compose_and_validate, search_dirs
    from kopt.tune.planning.plan import build_plan

    os.chdir(workdir)
    line, cfgs = compose_and_validate(quote_search_overrides(overrides), "tune", [validate_tune])
    return build_plan(cfgs[0], line.overrides, search_dirs(None))


def study_curve(study, start: float) -> list[tuple[float, float]]:
    """(seconds since start, best value so far) after each finished trial (maximised metric)."""
    done = sorted((t for t in study.trials if t.datetime_complete is not None), key=lambda t: t.datetime_complete)
    best, curve = None, []
    for t in done:
        if t.state.name == "COMPLETE":
            best = t.value if best is None else max(best, t.value)
        if best is not None:
            curve.append((t.datetime_complete.timestamp() - start, best))
    return curve


def time_to_reach(curve: list[tuple[float, float]], target: float) -> float | None:
    return next((t for t, best in curve if best >= target - 1e-12), None)


def environment() -> dict:
    import keras
    import optuna
    import tensorflow as tf

    return {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "optuna": optuna.__version__,
        "cpus": len(os.sched_getaffinity(0)),
        "loadavg_at_start": list(os.getloadavg()),
    }


def md_table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "-" if v is None else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def keras_tuner_tracker():
    """A Keras callback class for a KerasTuner search: counts the epochs trained (``Track.epochs``) and
    keeps the anytime curve (``Track.curve``: seconds since ``Track.start``, best val accuracy so far)
    from each trial's best epoch. Set ``Track.start = time.time()`` just before ``tuner.search``."""
    import time

    import keras

    class Track(keras.callbacks.Callback):
        epochs = 0
        start = time.time()
        curve: list[tuple[float, float]] = []

        def on_train_begin(self, logs=None):
            self.best = None

        def on_epoch_end(self, epoch, logs=None):
            Track.epochs += 1
            value = (logs or {}).get("val_accuracy")
            if value is not None:
                self.best = value if self.best is None else max(self.best, value)

        def on_train_end(self, logs=None):
            if self.best is not None:
                prev = Track.curve[-1][1] if Track.curve else 0.0
                Track.curve.append((time.time() - Track.start, max(prev, float(self.best))))

    Track.curve = []  # one list per search
    return Track
