"""Tiny-trial throughput: kopt tune against KerasTuner, trials per hour on the same search (issue 21:
kopt >= 2x KerasTuner's trials/hour).

The digits CNN, space and split of tune_vs_kerastuner.py (width, dropout, log learning rate), the same
trials and epochs per trial. In one process, each round runs every contender once, in turn:

  kopt_random   kopt tune tuner=random pruner=none   the same work as kt_random: per-trial fixed costs
  kt_random     keras_tuner.RandomSearch
  kopt_default  kopt tune (tuner=auto pruner=auto)   what a user gets with no tuner or pruner given
  kt_bayes      keras_tuner.BayesianOptimization
  kt_hyperband  keras_tuner.Hyperband(max_epochs=epochs, factor=3)  (sets its own trial count)
  kopt_2_workers  kopt tune tuner.n_workers=2        (info: two worker processes on one study)

Trials per hour = trials finished (complete or pruned) / wall time of the search. The target compares
kopt_default with the fastest KerasTuner tuner of the round; kopt_random / kt_random is the fixed-cost
ratio (no pruning on either side). Best val accuracy is reported beside it: throughput bought with
worse results would not count.

    python benchmarks/tiny_trials.py            # 12 trials x 3 epochs, 3 rounds
    python benchmarks/tiny_trials.py --quick    # 8 trials x 2 epochs, 1 round
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from common import parser, target, write_result
from tune_common import environment, md_table
from tune_vs_kerastuner import digits_arrays, run_kerastuner, run_kopt

KOPT = {
    "kopt_random": ("random", "none", []),
    "kopt_default": ("auto", "auto", []),
    "kopt_2_workers": ("auto", "auto", ["tuner.n_workers=2"]),
}
ORDER = ("kopt_random", "kt_random", "kopt_default", "kt_bayes", "kt_hyperband", "kopt_2_workers")


def per_hour(row: dict) -> float:
    return 3600.0 * row["trials"] / row["wall_s"]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None)
    args = p.parse_args()
    trials = args.trials or (8 if args.quick else 12)
    epochs = args.epochs or (2 if args.quick else 3)
    rounds = args.rounds or (1 if args.quick else 3)
    workdir = Path(tempfile.mkdtemp(prefix="kopt-bench-"))
    results: list[list[dict]] = []
    try:
        from kopt.runtime import setup_tensorflow

        setup_tensorflow(0)
        env = environment()
        arrays = digits_arrays(0)
        for r in range(rounds):
            row_set = []
            for name in ORDER:
                print(f"== round {r}: {name}", flush=True)
                if name in KOPT:
                    tuner, pruner, extra = KOPT[name]
                    row = run_kopt(f"{name}_r{r}", pruner, trials, epochs, 0, workdir, tuner=tuner, extra=extra)
                else:
                    row = run_kerastuner(f"{name}_r{r}", name[3:], trials, epochs, 0, workdir, arrays)
                row.pop("curve", None)
                row.update(name=name, trials_per_hour=per_hour(row))
                print({k: v for k, v in row.items()}, flush=True)
                row_set.append(row)
            results.append(row_set)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def ratio(rows: list[dict], kopt: str, others: tuple[str, ...]) -> float:
        by = {x["name"]: x for x in rows}
        return by[kopt]["trials_per_hour"] / max(by[o]["trials_per_hour"] for o in others)

    default_ratios = [ratio(rows, "kopt_default", ("kt_random", "kt_bayes", "kt_hyperband")) for rows in results]
    fixed_ratios = [ratio(rows, "kopt_random", ("kt_random",)) for rows in results]
    worker_ratios = [ratio(rows, "kopt_2_workers", ("kt_random", "kt_bayes", "kt_hyperband")) for rows in results]
    default_med, fixed_med = statistics.median(default_ratios), statistics.median(fixed_ratios)
    targets = [
        target(
            "trials/hour, kopt tune defaults / the fastest KerasTuner tuner (median of rounds)",
            round(default_med, 3),
            ">= 2",
            default_med >= 2,
            per_round=[round(x, 3) for x in default_ratios],
        ),
        target(
            "trials/hour, kopt tune tuner=random pruner=none / KerasTuner RandomSearch (median of rounds)",
            round(fixed_med, 3),
            "(info: the per-trial fixed costs, no pruning on either side)",
            None,
            per_round=[round(x, 3) for x in fixed_ratios],
        ),
        target(
            "trials/hour, kopt tune tuner.n_workers=2 / the fastest KerasTuner tuner (median of rounds)",
            round(statistics.median(worker_ratios), 3),
            "(info: two worker processes; the default is one, for studies that a seed reproduces)",
            None,
            per_round=[round(x, 3) for x in worker_ratios],
        ),
    ]
    header = ["tuner", "trials", "pruned", "epochs", "wall s", "trials/hour", "best val_acc"]
    notes = [
        f"{trials} trials x {epochs} epochs per tuner (KerasTuner's Hyperband sets its own count), digits CNN, "
        f"{rounds} round(s), contenders in turn within a round; load average at start "
        f"{[round(x, 1) for x in env['loadavg_at_start']]}."
    ]
    for r, rows in enumerate(results):
        table = [
            [
                x["name"],
                x["trials"],
                x["pruned"],
                x["epochs"],
                x["wall_s"],
                x["trials_per_hour"],
                x["best_val_accuracy"],
            ]
            for x in rows
        ]
        notes.append(f"Round {r}:\n\n{md_table(header, table)}")
    write_result(
        "tiny_trials",
        args.out,
        args.quick,
        targets,
        trials=trials,
        epochs_per_trial=epochs,
        environment=env,
        rounds=results,
        notes="\n\n".join(notes),
    )


if __name__ == "__main__":
    main()
