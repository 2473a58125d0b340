"""``kopt worker tuner.storage=URL tuner.study_name=NAME``: join a study that ``kopt tune`` made
and run its trials until it has ``n_trials`` COMPLETE + PRUNED.

A worker needs no config files: the configs, search space, tuner and pruner come from the study
(its plan is a study system attribute). Its trials' run dirs go under runs/tune/<study>/trials/ here.
"""

from __future__ import annotations

import time
from pathlib import Path

from kopt.errors import KoptError

KEYS = ("tuner.storage", "tuner.study_name")
USAGE = "usage: kopt worker tuner.storage=URL tuner.study_name=NAME\n\n" + __doc__.split("\n\n", 1)[1]


def parse(argv: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for arg in argv:
        key, eq, value = arg.lstrip("+").partition("=")
        if not eq or key not in KEYS:
            raise KoptError(
                f"unknown argument '{arg}'; allowed: {', '.join(k + '=...' for k in KEYS)} "
                "(everything else comes from the study)"
            )
        if not value:
            raise KoptError(f"{key}: empty; allowed: {'a storage URL' if key == 'tuner.storage' else 'a study name'}")
        values[key] = value
    missing = [k for k in KEYS if k not in values]
    if missing:
        raise KoptError(
            f"kopt worker needs {' and '.join(k + '=...' for k in missing)}: the storage and name of "
            "a study that kopt tune created"
        )
    return values


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return
    values = parse(argv)
    spec, name = values["tuner.storage"], values["tuner.study_name"]
    if "://" not in spec and not Path(spec).expanduser().is_file():
        raise KoptError(f"tuner.storage={spec}: no such journal file; give the storage of an existing study")
    from kopt.schemas.tuner import STUDY_NAME

    if not STUDY_NAME.match(name):
        raise KoptError(f"tuner.study_name={name!r}: no such study (allowed: letters, digits, '.', '_' and '-')")
    from kopt.console import console
    from kopt.tune.running.study import load_study, quiet_optuna
    from kopt.tune.running.workers import run_worker
    from kopt.tune.store.storage import open_storage
    from kopt.tune.trials.claim import FINISHED, state_counts
    from kopt.tune.trials.dedup import DUPLICATE, discount_duplicates

    quiet_optuna()
    study, plan = load_study(open_storage(spec), name)  # a clean error before TensorFlow loads
    from kopt.targets import check_config

    for base in plan.bases.values():  # a study's storage names code only as kopt.targets allows
        check_config(base)
    trials = study.get_trials(deepcopy=False)
    counts = discount_duplicates(state_counts(trials), trials)  # the trials that trained (repeats reuse one)
    console.print(
        f"joined study {name}: {sum(counts[s] for s in FINISHED)}/{plan.n_trials} trials finished, "
        f"{counts['RUNNING']} running"
    )
    study_dir = Path("runs") / "tune" / name
    study_dir.mkdir(parents=True, exist_ok=True)

    def on_trial(trial) -> None:
        value = f" {plan.metric}={trial.values[0]:.4f}" if trial.values else ""  # several objectives: the first
        original = trial.user_attrs.get(DUPLICATE)
        where = (
            f"duplicate of #{original}, not trained"
            if original is not None
            else study_dir / "trials" / str(trial.number)
        )
        console.print(f"trial {trial.number}: {trial.state.name}{value} ({where})")

    started = time.time()
    run_worker(spec, name, study_dir, since=started, on_trial=on_trial)
    trials = study.get_trials(deepcopy=False)
    counts = discount_duplicates(state_counts(trials), trials)
    console.print(
        f"study {name}: {sum(counts[s] for s in FINISHED)}/{plan.n_trials} trials finished; "
        f"this worker ran for {time.time() - started:.0f} s"
    )
