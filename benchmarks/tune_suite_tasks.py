"""benchmarks/tune_suite.py's tasks and contenders: the four tasks (overrides, search space, data), the
shared split and retrain, and how each contender (kopt through run_study, KerasTuner) runs a study."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tune_common import keras_tuner_tracker, plan_study, study_curve

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
    from kopt.tune.running.study import open_storage

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

    # KerasTuner seeds its oracle's draws but not the models' weights: without this, a run's results depend on
    # what ran before it in the process (digits_cnn seed 1's best went 0.72, 0.90, 0.77 in three runs).
    keras.utils.set_random_seed(seed)
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
