"""The tuning benchmark suite: kopt's default tuner against KerasTuner and plain Optuna, on four tasks.

Tasks (the same train/val/test split and normalisation for every contender; kopt's model zoo):

  digits_cnn          dataset=digits, model=cnn; the space of search=cnn_digits (width, dense, dropout, lr)
  wine_mlp            dataset=wine, model=mlp; width, depth, dropout, lr
  breast_cancer_mlp   dataset=breast_cancer, model=mlp; the same space
  shapes_resnet       a seeded synthetic 16x16 task (4 classes: squares, discs, stripes, checkers at random
                      places, sizes and contrasts, plus noise), model=resnet depth=8; lr, weight decay, shortcut

Contenders, each with the same trials x epochs budget:

  kopt_auto           kopt tune's default (tuner=auto pruner=auto)
  kopt_auto_noprune   the same sampler without pruning (does pruning save time without losing the best?);
                      on wine_mlp and breast_cancer_mlp only, to fit the budget
  optuna_tpe          Optuna's plain defaults through kopt: TPESampler() (10 random start-up trials,
                      independent) and MedianPruner()
  kt_bayes            keras_tuner.BayesianOptimization
  kt_hyperband        keras_tuner.Hyperband(max_epochs=epochs, factor=3) (sets its own trial count)

Recorded per task and seed: best val accuracy against wall time (anytime curves, one PNG per task in
benchmarks/results/), the time to reach KerasTuner-Bayes's final best, epochs trained, and the
test accuracy of each contender's best config retrained on train+val (the same Keras retrain for all:
the full epochs, seed fixed).

    python benchmarks/tune_suite.py                       # 8 trials x 4 epochs, seeds 0 1 2, every task
    python benchmarks/tune_suite.py --quick               # 3 trials x 2 epochs, seed 0, two tasks (a smoke run)
    python benchmarks/tune_suite.py --tasks wine_mlp --seeds 0
    python benchmarks/tune_suite.py --contenders kopt_auto --reuse benchmarks/results/2026-11-29-vm-tune_suite.json
                                                          # kopt only; KerasTuner's results of an earlier run
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import RESULTS, parser, target, write_result
from tune_common import environment, md_table, time_to_reach
from tune_suite_tasks import (
    CONTENDERS,
    KOPT,
    PRUNE_CHECK,
    TASKS,
    base_overrides,
    retrain_test,
    run_kerastuner,
    run_kopt,
    shapes_npz,
    task_arrays,
)


def plot_task(task: str, rounds: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    colours = dict(zip(CONTENDERS, ("tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple")))
    for rnd in rounds:
        for name, r in rnd["results"].items():
            if r["curve"]:
                t, b = zip(*r["curve"])
                ax.step(
                    t,
                    b,
                    where="post",
                    color=colours.get(name),
                    alpha=0.8,
                    lw=1.2,
                    label=name if rnd is rounds[0] else None,
                )
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("best val accuracy so far")
    ax.set_title(f"{task}: anytime curves, seeds {', '.join(str(r['seed']) for r in rounds)}")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def score(rnd: dict) -> None:
    res = rnd["results"]
    kt = res["kt_bayes"]
    rnd["kt_bayes_best"], rnd["kt_bayes_wall_s"] = kt["best_val_accuracy"], kt["wall_s"]
    for r in res.values():
        r["time_to_kt_bayes_best_s"] = time_to_reach(r["curve"], kt["best_val_accuracy"])
    reach = res["kopt_auto"]["time_to_kt_bayes_best_s"]
    rnd["ratio_time_to_kt_bayes_best"] = reach / kt["wall_s"] if reach is not None else None


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--tasks", nargs="+", default=None, choices=list(TASKS))
    p.add_argument("--contenders", nargs="+", default=None, choices=list(CONTENDERS))
    p.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        default=None,
        help="run nothing: one result from the JSON results of runs on separate tasks",
    )
    p.add_argument(
        "--reuse",
        type=Path,
        default=None,
        help="an earlier result JSON: the KerasTuner contenders not run here take its results for the same task and "
        "seed (training is deterministic per seed, so only their wall times depend on that run's load)",
    )
    args = p.parse_args()
    earlier = json.loads(args.reuse.read_text())["rounds"] if args.reuse else {}
    if args.merge:  # results of separate runs (or the .partial.json of a run stopped early: its finished rounds)
        docs = [json.loads(path.read_text()) for path in args.merge]
        rounds: dict[str, list] = {}  # a task's rounds from every document (a later one wins for a seed)
        for d in docs:
            for task, rs in d.get("rounds", d).items():
                merged = {r["seed"]: r for r in rounds.get(task, []) + list(rs or [])}
                rounds[task] = [merged[seed] for seed in sorted(merged)]
        rounds = {task: rs for task, rs in rounds.items() if rs}
        full = [d for d in docs if "rounds" in d]
        env = full[0]["environment"] if full else {"loadavg_at_start": list(__import__("os").getloadavg())}
        trials = full[0]["trials"] if full else (args.trials or 8)
        epochs = full[0]["epochs_per_trial"] if full else (args.epochs or 4)
        seeds = sorted({r["seed"] for rs in rounds.values() for r in rs})
        for task, rs in rounds.items():
            plot_task(
                task,
                rs,
                RESULTS / f"{time.strftime('%Y-%m-%d')}-{__import__('socket').gethostname()}-tune_suite-{task}.png",
            )
        return write_summary(args, rounds, env, trials, epochs, seeds, list(CONTENDERS))
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    trials = args.trials or (3 if args.quick else 8)
    epochs = args.epochs or (2 if args.quick else 4)
    tasks = args.tasks or (["wine_mlp", "digits_cnn"] if args.quick else list(TASKS))
    chosen = args.contenders
    workdir = Path(tempfile.mkdtemp(prefix="kopt-suite-"))
    stamp = time.strftime("%Y-%m-%d")
    import socket

    host = socket.gethostname()
    partial = RESULTS / f"{stamp}-{host}-tune_suite{'-quick' if args.quick else ''}-{'-'.join(tasks)}.partial.json"
    all_rounds: dict[str, list] = {}
    try:
        from kopt.runtime import setup_tensorflow

        setup_tensorflow(seeds[0])
        env = environment()
        data = shapes_npz(workdir / "shapes16.npz")
        for task in tasks:
            spec = TASKS[task]
            all_rounds[task] = []
            contenders = chosen or [c for c in CONTENDERS if c != "kopt_auto_noprune" or task in PRUNE_CHECK]
            for seed in seeds:
                overrides = base_overrides(spec, epochs, seed, data)
                arrays = task_arrays(overrides, seed, workdir)
                rnd = {"task": task, "seed": seed, "results": {}}
                for name in contenders:
                    print(f"== {task} seed {seed}: {name}", flush=True)
                    run = f"{task}_{name}_s{seed}"
                    if name in KOPT:
                        row = run_kopt(run, [*overrides, *KOPT[name]], trials, workdir)
                    else:
                        row = run_kerastuner(
                            run, name[3:], spec["space"], trials, epochs, spec["batch_size"], seed, workdir, arrays
                        )
                    row["test_accuracy"] = retrain_test(arrays, row["best_params"], epochs, spec["batch_size"], seed)
                    print({k: v for k, v in row.items() if k != "curve"}, flush=True)
                    rnd["results"][name] = row
                for r in earlier.get(task, []):
                    if r["seed"] == seed:
                        for name, row in r["results"].items():
                            if name not in KOPT:  # (kopt's own rows would be an older kopt's)
                                rnd["results"].setdefault(name, {**row, "reused_from": str(args.reuse)})
                if "kt_bayes" in rnd["results"] and "kopt_auto" in rnd["results"]:
                    score(rnd)
                all_rounds[task].append(rnd)
                RESULTS.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps(all_rounds, indent=1, default=str))
            plot_task(
                task,
                all_rounds[task],
                RESULTS / f"{stamp}-{host}-tune_suite{'-quick' if args.quick else ''}-{task}.png",
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_summary(
        args, all_rounds, env, trials, epochs, seeds, list(CONTENDERS) if args.reuse else chosen or list(CONTENDERS)
    )
    partial.unlink(missing_ok=True)


def write_summary(args, all_rounds, env, trials, epochs, seeds, contenders) -> None:
    rounds = [r for rs in all_rounds.values() for r in rs if "kt_bayes_best" in r]
    ratios = sorted(
        r["ratio_time_to_kt_bayes_best"] if r["ratio_time_to_kt_bayes_best"] is not None else float("inf")
        for r in rounds
    )
    median = statistics.median(ratios) if ratios else None
    wins = [r["results"]["kopt_auto"]["best_val_accuracy"] >= r["kt_bayes_best"] - 1e-12 for r in rounds]
    test_diff = [r["results"]["kopt_auto"]["test_accuracy"] - r["results"]["kt_bayes"]["test_accuracy"] for r in rounds]
    judged = None if args.quick else True
    targets = [
        target(
            "kopt default (auto) time to reach KerasTuner-Bayes's final best val accuracy / KerasTuner-Bayes wall "
            f"time (median over {len(rounds)} task-seeds; not reached = inf)",
            None if median is None or median == float("inf") else round(median, 3),
            "<= 0.5",
            judged and median is not None and median <= 0.5,
        ),
        target(
            "task-seeds where kopt default's final best val accuracy >= KerasTuner-Bayes's",
            round(sum(wins) / len(wins), 3) if wins else None,
            ">= 0.75",
            judged and bool(wins) and sum(wins) / len(wins) >= 0.75,
            unit="",
            count=f"{sum(wins)}/{len(wins)}",
        ),
        target(
            "retrained test accuracy, kopt default - KerasTuner-Bayes (mean over task-seeds)",
            round(statistics.mean(test_diff), 4) if test_diff else None,
            ">= 0",
            judged and bool(test_diff) and statistics.mean(test_diff) >= 0,
            unit="",
        ),
    ]
    pr = [r for r in rounds if "kopt_auto_noprune" in r["results"]]
    if pr:
        ep = statistics.mean(
            r["results"]["kopt_auto"]["epochs"] / r["results"]["kopt_auto_noprune"]["epochs"] for r in pr
        )
        wall = statistics.mean(
            r["results"]["kopt_auto"]["wall_s"] / r["results"]["kopt_auto_noprune"]["wall_s"] for r in pr
        )
        lost = sum(
            r["results"]["kopt_auto"]["best_val_accuracy"]
            < r["results"]["kopt_auto_noprune"]["best_val_accuracy"] - 1e-12
            for r in pr
        )
        targets.append(
            target(
                "pruner=auto: epochs trained / without pruning (mean); wall time ratio; task-seeds whose best "
                "was lower with pruning",
                round(ep, 3),
                "(info)",
                None,
                wall_ratio=round(wall, 3),
                best_lower=f"{lost}/{len(pr)}",
            )
        )
    notes = [
        f"{trials} trials x {epochs} epochs per contender, seeds {seeds}, tasks {list(all_rounds)}; load average at "
        f"start {[round(x, 1) for x in env['loadavg_at_start']]}. Anytime curves: "
        f"benchmarks/results/<date>-<host>-tune_suite-<task>.png."
    ]
    header = [
        "task",
        "seed",
        "contender",
        "best val",
        "trials",
        "pruned",
        "epochs",
        "wall s",
        "time to KT-Bayes best s",
        "retrained test acc",
    ]
    rows = []
    for task, rs in all_rounds.items():
        for r in rs:
            for name in contenders:
                x = r["results"].get(name)
                if x:
                    rows.append(
                        [
                            task,
                            r["seed"],
                            name,
                            x["best_val_accuracy"],
                            x["trials"],
                            x["pruned"],
                            x["epochs"],
                            x["wall_s"],
                            x.get("time_to_kt_bayes_best_s"),
                            x["test_accuracy"],
                        ]
                    )
    notes.append(md_table(header, rows))
    for rs in all_rounds.values():
        for r in rs:
            for x in r["results"].values():
                x["curve"] = [[round(t, 2), b] for t, b in x["curve"]]
    write_result(
        "tune_suite",
        args.out,
        args.quick,
        targets,
        trials=trials,
        epochs_per_trial=epochs,
        seeds=seeds,
        environment=env,
        rounds=all_rounds,
        notes="\n\n".join(notes),
    )


if __name__ == "__main__":
    main()
