"""Memory of in-process trials: RSS after each of N trials (default 50), kopt tune against
KerasTuner's RandomSearch on the same digits CNN (1 epoch per trial), in one process.

kopt runs keras.backend.clear_session() and gc after every trial. Target: <= 1 MiB/trial of RSS
growth, measured as the slope of a least-squares line through the RSS of the second half of the
trials (the first ones warm up TensorFlow's caches).

    python benchmarks/trial_memory.py            # 50 trials each
    python benchmarks/trial_memory.py --quick    # 10 trials each
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import parser, target, write_result
from tune_common import environment, md_table, plan_study, rss_mib

SEARCH = [
    "search.model.width=choice(8, 16, 32)",
    "search.regularizer.dropout=interval(0.0, 0.5)",
    "search.optimizer.lr=tag(log, interval(1e-4, 1e-1))",
]


def slope(values: list[float]) -> float:
    """MiB per trial over the second half of the trials."""
    half = values[len(values) // 2 :]
    if len(half) < 2:
        return float("nan")
    return float(np.polyfit(np.arange(len(half)), np.array(half), 1)[0])


def kopt_rss(trials: int, workdir: Path) -> list[float]:
    from kopt.tune.running.loop import work
    from kopt.tune.running.study import open_study, quiet_optuna
    from kopt.tune.store.storage import open_storage

    plan = plan_study(
        workdir,
        [
            "dataset=digits",
            "model=cnn",
            "trainer.epochs=1",
            "tuner=random",
            f"tuner.n_trials={trials}",
            "tuner.study_name=mem",
            "pruner=none",
            *SEARCH,
        ],
    )
    quiet_optuna()
    study_dir = workdir / "runs" / "tune" / "mem"
    study_dir.mkdir(parents=True, exist_ok=True)
    study = open_study(plan, open_storage(str(study_dir / "journal.log")))
    rss: list[float] = []
    work(study, plan, study_dir, time.time(), on_trial=lambda trial: rss.append(rss_mib()))
    return rss


def kerastuner_rss(trials: int, workdir: Path) -> list[float]:
    import keras
    import keras_tuner as kt
    from tune_vs_kerastuner import digits_arrays, hypermodel

    x_tr, y_tr, x_va, y_va, shape, classes = digits_arrays(0)
    rss: list[float] = []

    build = hypermodel(shape, classes)

    class Record(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            rss.append(rss_mib())

    tuner = kt.RandomSearch(
        build,
        objective="val_accuracy",
        max_trials=trials,
        seed=0,
        directory=str(workdir / "kt"),
        project_name="mem",
        overwrite=True,
    )
    tuner.search(x_tr, y_tr, validation_data=(x_va, y_va), epochs=1, batch_size=64, callbacks=[Record()], verbose=0)
    return rss


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--trials", type=int, default=None)
    args = p.parse_args()
    trials = args.trials or (10 if args.quick else 50)
    workdir = Path(tempfile.mkdtemp(prefix="kopt-mem-"))
    try:
        from kopt.runtime import setup_tensorflow

        setup_tensorflow(0)
        env = environment()
        start = rss_mib()
        series = {"kopt": kopt_rss(trials, workdir), "kerastuner_random": kerastuner_rss(trials, workdir)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows, out = [], {}
    for name, values in series.items():
        out[name] = {
            "rss_mib": [round(v, 2) for v in values],
            "slope_mib_per_trial": slope(values),
            "growth_first_to_last_mib": values[-1] - values[0] if values else None,
        }
        rows.append([name, len(values), values[0], values[-1], out[name]["slope_mib_per_trial"]])
    kopt_slope = out["kopt"]["slope_mib_per_trial"]
    targets = [
        target(
            "kopt RSS growth per in-process trial (slope over the 2nd half)",
            round(kopt_slope, 3),
            "<= 1",
            kopt_slope <= 1.0,
            unit="MiB/trial",
        ),
        target(
            "KerasTuner RandomSearch RSS growth per trial, same model",
            round(out["kerastuner_random"]["slope_mib_per_trial"], 3),
            "(info)",
            None,
            unit="MiB/trial",
        ),
    ]
    notes = (
        f"{trials} trials each, digits CNN, 1 epoch per trial, kopt first then KerasTuner in one process "
        f"(RSS at start {start:.0f} MiB).\n\n"
        + md_table(["tuner", "trials", "RSS after first MiB", "RSS after last MiB", "slope MiB/trial"], rows)
    )
    write_result(
        "trial_memory",
        args.out,
        args.quick,
        targets,
        trials=trials,
        environment=env,
        rss_at_start_mib=start,
        series=out,
        notes=notes,
    )


if __name__ == "__main__":
    main()
