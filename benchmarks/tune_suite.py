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
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RESULTS, parser, target, write_result
from tune_common import environment, keras_tuner_tracker, md_table, plan_study, study_curve, time_to_reach

F = "float"
TASKS = {
    "digits_cnn": {
        "overrides": ["dataset=digits", "model=cnn"],
        "batch_size": 64,
        "space": [
            ("model.width", "choice", (8, 16, 32)),
            ("model.dense", "choice", (0, 64, 128)),
            ("regularizer.dropout", F, (0.0, 0.5, False)),
            ("optimizer.lr", F, (1e-4, 1e-1, True)),
        ],
    },
    "wine_mlp": {
        "overrides": ["dataset=wine", "model=mlp"],
        "batch_size": 16,
        "space": [
            ("model.width", "choice", (16, 32, 64, 128)),
            ("model.depth", "choice", (1, 2, 3)),
            ("regularizer.dropout", F, (0.0, 0.5, False)),
            ("optimizer.lr", F, (1e-4, 1e-1, True)),
        ],
    },
    "breast_cancer_mlp": {
        "overrides": ["dataset=breast_cancer", "model=mlp"],
        "batch_size": 16,
        "space": [
            ("model.width", "choice", (16, 32, 64, 128)),
            ("model.depth", "choice", (1, 2, 3)),
            ("regularizer.dropout", F, (0.0, 0.5, False)),
            ("optimizer.lr", F, (1e-4, 1e-1, True)),
        ],
    },
    "shapes_resnet": {
        "overrides": ["dataset=npz", "model=resnet", "model.depth=8"],
        "batch_size": 64,
        "space": [
            ("optimizer.lr", F, (1e-3, 3e-1, True)),
            ("optimizer.weight_decay", F, (1e-5, 1e-3, True)),
            ("model.shortcut", "choice", ("A", "B")),
        ],
    },
}
CONTENDERS = ("kopt_auto", "kt_bayes", "optuna_tpe", "kt_hyperband", "kopt_auto_noprune")
PRUNE_CHECK = ("wine_mlp", "breast_cancer_mlp")  # tasks that also run kopt_auto_noprune (by default)
KOPT = {
    "kopt_auto": ["tuner=auto", "pruner=auto"],
    "kopt_auto_noprune": ["tuner=auto", "pruner=none"],
    "optuna_tpe": [
        "tuner=bayes",
        "tuner.multivariate=false",
        "tuner.constant_liar=false",
        "tuner.n_startup_trials=10",
        "pruner=median",
    ],
}


def shapes_npz(path: Path, n: int = 600, seed: int = 0) -> Path:
    """A 16x16 grey-level task with real structure: 4 classes of shapes/textures, seeded."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16]
    x = np.zeros((n, 16, 16, 1), "float32")
    y = rng.integers(0, 4, n)
    for i, c in enumerate(y):
        size = rng.integers(4, 9)
        cy, cx = rng.integers(size // 2 + 1, 16 - size // 2 - 1, 2)
        contrast = rng.uniform(0.4, 1.0)
        if c == 0:  # a filled square
            img = (abs(yy - cy) <= size // 2) & (abs(xx - cx) <= size // 2)
        elif c == 1:  # a disc
            img = (yy - cy) ** 2 + (xx - cx) ** 2 <= (size / 2) ** 2
        elif c == 2:  # stripes at a random angle-free orientation (horizontal or vertical), random period
            period = rng.integers(2, 5)
            img = ((yy if rng.random() < 0.5 else xx) // period) % 2 == 0
        else:  # a checkerboard of random cell size
            cell = rng.integers(2, 5)
            img = ((yy // cell) + (xx // cell)) % 2 == 0
        x[i, :, :, 0] = contrast * img + rng.normal(0, 0.35, (16, 16))
    np.savez(path, x_train=x, y_train=y.astype("int64"))
    return path


def search_overrides(space) -> list[str]:
    out = []
    for key, kind, args in space:
        if kind == "choice":
            out.append(f"search.{key}=choice({', '.join(map(str, args))})")
        else:
            low, high, log = args
            expr = f"interval({low}, {high})"
            out.append(f"search.{key}={'tag(log, ' + expr + ')' if log else expr}")
    return out


def base_overrides(task: dict, epochs: int, seed: int, data: Path) -> list[str]:
    extra = [f"dataset.path={data}"] if "dataset=npz" in task["overrides"] else []
    return [
        *task["overrides"],
        *extra,
        f"trainer.epochs={epochs}",
        f"trainer.batch_size={task['batch_size']}",
        f"seed={seed}",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        *search_overrides(task["space"]),
    ]


def task_arrays(overrides: list[str], seed: int, workdir: Path):
    """kopt's own holdout split (test, train, val) and training-fold normalisation, as numpy arrays."""
    from kopt.compose import compose_and_validate
    from kopt.data.datasets import load_dataset
    from kopt.data.splits import make_splits

    _, cfgs = compose_and_validate([o for o in overrides if not o.startswith(("search.", "tuner."))], "config", [])
    cfg = cfgs[0]
    data = load_dataset(cfg.dataset, seed)
    split = make_splits(cfg.split, data.y, seed)
    tr, va = split.folds[0]
    return {
        "x": data.x,
        "y": data.y,
        "train": tr,
        "val": va,
        "test": split.test,
        "shape": data.input_shape,
        "classes": data.num_classes,
        "cfg": cfg,
    }


def build(arrays, params: dict, epochs: int, steps: int):
    from omegaconf import OmegaConf

    from kopt.models import build_model
    from kopt.optim import build_optimizer

    cfg = OmegaConf.create(OmegaConf.to_container(arrays["cfg"], resolve=True))
    for key, value in params.items():
        OmegaConf.update(cfg, key, value, merge=False)
    model = build_model(cfg.model, cfg.regularizer, arrays["shape"], arrays["classes"])
    model.compile(
        build_optimizer(cfg.optimizer, steps, epochs), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def retrain_test(arrays, params: dict, epochs: int, batch: int, seed: int) -> float:
    """The same retrain for every contender: train+val, the full epochs, then the test set."""
    import keras

    from kopt.data.pipeline import Normalizer

    keras.utils.set_random_seed(seed)
    pool = np.concatenate([arrays["train"], arrays["val"]])
    norm = Normalizer.fit(arrays["x"][pool])
    model = build(arrays, params, epochs, -(-len(pool) // batch))
    model.fit(norm(arrays["x"][pool]), arrays["y"][pool], epochs=epochs, batch_size=batch, verbose=0)
    _, acc = model.evaluate(norm(arrays["x"][arrays["test"]]), arrays["y"][arrays["test"]], verbose=0)
    keras.backend.clear_session()
    return float(acc)


def run_kopt(name: str, overrides: list[str], trials: int, workdir: Path) -> dict:
    import optuna

    from kopt.tune.run import run_study
    from kopt.tune.study import open_storage

    plan = plan_study(workdir, [*overrides, f"tuner.n_trials={trials}", f"tuner.study_name={name}"])
    study_dir = workdir / "runs" / "tune" / name
    t0 = time.time()
    summary = run_study(plan, study_dir)
    wall = time.time() - t0
    study = optuna.load_study(study_name=name, storage=open_storage(str(study_dir / "journal.log")))
    trained = [t for t in study.trials if "duplicate_of" not in t.user_attrs]
    return {
        "best_val_accuracy": summary["best_value"],
        "best_params": summary["best_params"],
        "trials": len(study.trials),
        "pruned": summary["counts"]["PRUNED"],
        "duplicates": summary.get("duplicates"),
        "auto": summary.get("auto"),
        "epochs": sum(len(t.intermediate_values) for t in trained),
        "wall_s": wall,
        "curve": study_curve(study, t0),
    }


def run_kerastuner(
    name: str, kind: str, space, trials: int, epochs: int, batch: int, seed: int, workdir: Path, arrays
) -> dict:
    import keras
    import keras_tuner as kt

    from kopt.data.pipeline import Normalizer

    norm = Normalizer.fit(arrays["x"][arrays["train"]])
    x_tr, y_tr = norm(arrays["x"][arrays["train"]]), arrays["y"][arrays["train"]]
    x_va, y_va = norm(arrays["x"][arrays["val"]]), arrays["y"][arrays["val"]]
    steps = -(-len(y_tr) // batch)

    def hypermodel(hp):
        params = {}
        for key, kind_, args in space:
            if kind_ == "choice":
                params[key] = hp.Choice(key, list(args))
            else:
                params[key] = hp.Float(key, args[0], args[1], sampling="log" if args[2] else "linear")
        return build(arrays, params, epochs, steps)

    Track = keras_tuner_tracker()

    common = dict(objective="val_accuracy", seed=seed, directory=str(workdir / "kt"), project_name=name, overwrite=True)
    if kind == "bayes":
        tuner = kt.BayesianOptimization(hypermodel, max_trials=trials, **common)
    else:
        tuner = kt.Hyperband(hypermodel, max_epochs=epochs, factor=3, **common)
    t0 = Track.start = time.time()
    tuner.search(
        x_tr, y_tr, validation_data=(x_va, y_va), epochs=epochs, batch_size=batch, callbacks=[Track()], verbose=0
    )
    wall = time.time() - t0
    best = tuner.oracle.get_best_trials(1)[0]
    keras.backend.clear_session()
    return {
        "best_val_accuracy": float(best.score),
        "best_params": dict(best.hyperparameters.values),
        "trials": len(tuner.oracle.trials),
        "pruned": None,
        "epochs": Track.epochs,
        "wall_s": wall,
        "curve": Track.curve,
    }


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
    args = p.parse_args()
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
    write_summary(args, all_rounds, env, trials, epochs, seeds, chosen or list(CONTENDERS))
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
