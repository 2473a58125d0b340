"""Where a tiny `kopt tune` trial's time goes: wall-clock timers around the functions a trial calls,
one study run in this process (the digits CNN and the space of tune_vs_kerastuner.py, no pruning).

Reports seconds per trial for the whole trial, Keras' fit (training, validation and their tracing),
the test-set prediction, curves.png, the model build, the standalone model.keras copy and its save,
and the data and splits; the rest of a trial is its run dir's other files and the study's storage.
Since issue 30 a trial has no test-set prediction and no curves.png, and saves model.keras only
when it enters the tuner.keep_models best: the study draws the trials' curves.png and writes
study.html once it ends ("study end: ...", per trial, outside the trials' time).
Used for BENCHMARKS.md (P3 tiny-trial throughput).

    python benchmarks/trial_breakdown.py                 # 12 trials x 3 epochs
    python benchmarks/trial_breakdown.py --quick         # 6 trials x 2 epochs
"""

from __future__ import annotations

import collections
import functools
import importlib
import shutil
import tempfile
import time
from pathlib import Path

from common import parser, target, write_result
from tune_common import environment, plan_study
from tune_vs_kerastuner import study_overrides

SPENT: collections.Counter = collections.Counter()

# (module, attribute, label): the module attribute a trial looks up at call time
TIMED = [
    ("kopt.tune.running.trial", "run_trial", "whole trial"),
    ("kopt.training.fit", "inference_copy", "standalone model.keras copy"),
    ("kopt.training.fit", "atomic_save_model", "model.keras save"),
    ("kopt.training.run", "_data_and_splits", "data and splits"),
    ("kopt.models", "build_model", "model build"),
]
# once per study, after its trials (not part of a trial): reported per trial, apart from the trial's time
AT_END = [
    ("kopt.tune.run", "draw_trial_curves", "study end: every trial's curves.png"),
]


def timed(label: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - start

    return wrapper


def install_timers() -> None:
    import keras

    from kopt.training import tracking

    for module, attr, label in TIMED:
        mod = importlib.import_module(module)
        setattr(mod, attr, timed(label, getattr(mod, attr)))
    for module, attr, label in AT_END:
        mod = importlib.import_module(module)
        if hasattr(mod, attr):  # (an older kopt drew curves.png inside each trial)
            setattr(mod, attr, timed(label, getattr(mod, attr)))
    from kopt.tune.results import page

    page.StudyPage.write = timed("study end: study.html", page.StudyPage.write)
    tracking.Tracking.finish = timed("curves.png and metrics.csv", tracking.Tracking.finish)
    keras.Model.fit = timed("Keras fit (training, validation, tracing)", keras.Model.fit)
    keras.Model.predict = timed("test-set prediction", keras.Model.predict)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args()
    trials = args.trials or (6 if args.quick else 12)
    epochs = args.epochs or (2 if args.quick else 3)
    workdir = Path(tempfile.mkdtemp(prefix="kopt-bench-"))
    try:
        from kopt.runtime import setup_tensorflow

        setup_tensorflow(0)
        env = environment()
        install_timers()
        from kopt.tune.run import run_study

        plan = plan_study(workdir, study_overrides("breakdown", "random", "none", trials, epochs))
        start = time.perf_counter()
        run_study(plan, workdir / "study")
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    per_trial = {label: round(seconds / trials, 4) for label, seconds in SPENT.most_common()}
    accounted = sum(v for k, v in per_trial.items() if k != "whole trial" and not k.startswith("study end"))
    per_trial["rest of the trial (run dir files, storage)"] = round(per_trial.get("whole trial", 0) - accounted, 4)
    for label, seconds in per_trial.items():
        print(f"  {label:45s} {seconds:.3f} s/trial")
    write_result(
        "trial_breakdown",
        args.out,
        args.quick,
        [
            target(
                "seconds per tiny trial (whole study wall time / trials)",
                round(wall / trials, 3),
                "(info)",
                None,
                unit="s",
            )
        ],
        trials=trials,
        epochs_per_trial=epochs,
        environment=env,
        seconds_per_trial=per_trial,
    )


if __name__ == "__main__":
    main()
