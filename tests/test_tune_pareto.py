"""Several objectives (a Pareto front), constraints checked before training, tuner.pick, enqueue and
warm start: tiny studies run in this process (TensorFlow loads once)."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from conftest import assert_clean_error, kopt_env
from test_cli import NO_TF_SNIPPET
from test_tune_study import EASY, no_study_page_nor_curves  # noqa: F401  (autouse here too)

from kopt.errors import KoptError

# one epoch per trial: these tests check objectives, fronts, constraints, repeats and warm starts,
# none of which needs a second epoch
ONE_EPOCH = ["trainer.epochs=1"]


def tune_here(tmp_path, monkeypatch, *overrides: str, name: str = "s"):
    """Plan and run study ``name`` as `kopt tune` does (without the Hydra app); (summary, study, dir)."""
    import optuna

    from kopt.commands.tune import quote_search_overrides, validate_tune
    from kopt.compose import compose_and_validate, search_dirs
    from kopt.tune.planning.plan import build_plan
    from kopt.tune.run import run_study
    from kopt.tune.running.study import open_storage

    monkeypatch.chdir(tmp_path)
    argv = quote_search_overrides([*EASY, *ONE_EPOCH, f"tuner.study_name={name}", *overrides])
    line, cfgs = compose_and_validate(argv, "tune", [validate_tune])
    plan = build_plan(cfgs[0], line.overrides, search_dirs(None))
    study_dir = tmp_path / "runs" / "tune" / name
    summary = run_study(plan, study_dir)
    study = optuna.load_study(study_name=name, storage=open_storage(str(study_dir / "journal.log")))
    return summary, study, study_dir


WIDTHS = "search.model.width=choice(4, 16, 64)"
TWO = "tuner.objectives=[val_accuracy:max,params:min]"


def non_dominated(a: list[float], b: list[float]) -> bool:
    """``a`` (maximise accuracy, minimise params) is not dominated by ``b``."""
    return not (b[0] >= a[0] and b[1] <= a[1] and (b[0] > a[0] or b[1] < a[1]))


def test_two_objectives_write_a_front_of_non_dominated_trials(tmp_path, monkeypatch):
    summary, study, study_dir = tune_here(
        tmp_path,
        monkeypatch,
        "tuner=random",
        "tuner.n_trials=4",
        TWO,
        WIDTHS,
        "search.optimizer.lr=tag(log, interval(1e-3, 1e-1))",
        "tuner.plots=true",
        "tuner.retrain_best=true",
        "tuner.constraints={latency_ms:'<=1e4',flops:'>=1'}",
    )
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_accuracy", "params"]
    done = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert len(done) == 4
    for t in done:  # the objective values are the run's validation accuracy and its model's size
        run = study_dir / t.user_attrs["run_dir"]
        import json

        run_summary = json.loads((run / "summary.json").read_text())
        assert t.values == [pytest.approx(run_summary["metrics"]["val_accuracy"]), run_summary["params"]]
    with open(study_dir / "pareto.csv") as fh:
        rows = list(csv.DictReader(fh))
    members = {int(r["trial"]) for r in rows}
    assert members and members == set(summary["pareto"]["front"])
    values = {t.number: t.values for t in done}
    for n in members:  # no trial beats a member on both
        assert all(non_dominated(values[n], values[m]) for m in values if m != n)
    for n in set(values) - members:  # and every other trial is beaten by a member
        assert any(not non_dominated(values[n], values[m]) for m in members)
    for r in rows:
        assert float(r["params"]) == values[int(r["trial"])][1] and r["params_model.width"] in ("4", "16", "64")
    assert (study_dir / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (study_dir / "pareto").iterdir()) == sorted(f"trial_{n}.yaml" for n in members)
    from kopt.tune.results.best import find_best_yaml  # kopt train --config-dir <study>/pareto --config-name trial_<n>

    assert all(find_best_yaml(f"trial_{n}", [study_dir / "pareto"]) for n in members)
    assert summary["pruner"] == "none"  # Optuna cannot prune several objectives: switched off
    assert summary["best_trial"] in members
    for t in done:  # measured from the built model: FLOPs grow with the width, latency is a time
        assert t.user_attrs["measures"]["flops"] > 0 and t.user_attrs["measures"]["latency_ms"] > 0
    widths = {t.params["model.width"]: t.user_attrs["measures"]["flops"] for t in done}
    assert [widths[w] for w in sorted(widths)] == sorted(widths.values())
    retrained = {summary["retrain"]["trial"], *(r["trial"] for r in summary["pareto"]["retrain"])}
    assert retrained == members  # every front member, once
    assert all((study_dir / "retrain" / str(n) / "summary.json").is_file() for n in members)
    from kopt.tune.results.pareto import front_table, study_dirs_with_front  # what kopt report shows

    assert study_dirs_with_front([tmp_path / "runs"]) == [study_dir]
    table = front_table(study_dir)
    assert table.row_count == len(members) and table.columns[-1].header == "test_accuracy"
    assert all(cell not in ("", None) for cell in table.columns[-1]._cells)  # each member was retrained


def _study_of(rows):
    """An in-memory 2-objective study (val_accuracy max, params min) holding ``rows``:
    (val_accuracy, params, constraint value or None)."""
    import optuna
    from optuna.distributions import IntDistribution

    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (acc, params, con) in enumerate(rows):
        study.add_trial(
            optuna.trial.create_trial(
                params={"w": i},
                distributions={"w": IntDistribution(0, 99)},
                values=[acc, params],
                user_attrs={"measures": {"val_accuracy": acc, "params": params}},
                system_attrs={} if con is None else {"constraints:latency_ms<=2": con},
            )
        )
    return study


def test_pick_chooses_among_feasible_trials_and_defines_the_best():
    from types import SimpleNamespace

    from kopt.tune.results.pareto import best_of, front, picked

    study = _study_of([(0.90, 1e4, None), (0.95, 5e4, None), (0.97, 2e5, None), (0.99, 3e4, 1.0)])
    plan = SimpleNamespace(
        tuner={"objectives": ["val_accuracy:max", "params:min"], "pick": "max val_accuracy where params<=1e5"},
        metric="val_accuracy",
        direction="maximize",
    )
    assert [t.number for t in front(study)] == [0, 1, 2]  # trial 3 beats them all, but is infeasible
    assert picked(study.get_trials(), plan).number == 1 and best_of(study, plan).number == 1
    plan.tuner["pick"] = "min params where val_accuracy>=0.96"
    assert best_of(study, plan).number == 2
    plan.tuner["pick"] = "max val_accuracy where params<=10"
    assert picked(study.get_trials(), plan) is None
    assert best_of(study, plan).number == 2  # no trial meets the rule: the front's most accurate


def test_constraint_marks_an_oversized_model_infeasible_before_training(tmp_path, monkeypatch):
    """The first enqueued config (width 64) breaks params<=600: it is built, measured, recorded as
    infeasible and never trained; the second (width 4) trains. Enqueued trials run first."""
    import kopt.tune.running.trial as objective

    trained = []
    real = objective.run_train

    def counting(cfg, run_dir, **kwargs):
        trained.append(int(cfg.model.width))
        return real(cfg, run_dir, **kwargs)

    monkeypatch.setattr(objective, "run_train", counting)
    summary, study, study_dir = tune_here(
        tmp_path,
        monkeypatch,
        "tuner=bayes",
        "tuner.n_trials=2",
        WIDTHS,
        "tuner.constraints={params:'<=600'}",
        "tuner.enqueue=[{model.width:64},{model.width:4}]",
        "pruner=none",
    )
    first, second = study.get_trials()
    assert first.params == {"model.width": 64} and second.params == {"model.width": 4}
    assert trained == [4]
    assert first.state.name == "PRUNED" and "params=" in first.user_attrs["infeasible"]
    assert first.user_attrs["measures"]["params"] > 600
    assert first.constraints["params<=600"] > 0  # Optuna's constraint value: the samplers see it
    assert second.state.name == "COMPLETE" and second.constraints["params<=600"] <= 0
    run = study_dir / "trials" / "0"
    assert not (run / "metrics.jsonl").exists()  # not one epoch
    assert '"status": "pruned"' in (run / "summary.json").read_text()
    assert summary["best_trial"] == 1
    with open(study_dir / "trials.csv") as fh:
        reason = next(csv.DictReader(fh))["fail_reason"]
    assert reason.startswith("infeasible: params=") and "breaks params<=600" in reason


def test_warm_start_copies_trials_and_refuses_an_incompatible_study(tmp_path, monkeypatch, capsys):
    space = ["tuner=random", "search.model.width=choice(4, 8)", "pruner=none"]
    _, earlier, _ = tune_here(tmp_path, monkeypatch, *space, "tuner.n_trials=2", name="a")
    old = earlier.get_trials()
    capsys.readouterr()
    # a wider space holds the earlier one; the enqueued width is new (an enqueued config equal to a
    # copied trial would reuse its value instead of training again: kopt.tune.trials.dedup)
    summary, study, _ = tune_here(
        tmp_path,
        monkeypatch,
        "tuner=random",
        "search.model.width=choice(4, 8, 16)",
        "pruner=none",
        "tuner.n_trials=1",
        "tuner.warm_start=runs/tune/a",
        "tuner.enqueue=[{model.width:16}]",
    )
    trials = study.get_trials()
    assert len(trials) == 3 and summary["counts"]["COMPLETE"] == 3  # 2 copied + n_trials=1 new
    out = capsys.readouterr().out.splitlines()
    header = out[0]  # a new study (it said "resumed, 2 of 3 done")
    assert "study s (new, warm-started with 2 trials)" in header and "n_trials=1" in header, header
    (line,) = [x for x in out if x.startswith("trial 2 COMPLETE")]
    assert "[1/1 done" in line, line  # the counter counts what this study runs, as the header does
    copied = [t for t in trials if "warm_start_from" in t.user_attrs]
    assert [(t.params, t.values) for t in copied] == [(t.params, t.values) for t in old]
    assert trials[2].params == {"model.width": 16} and "warm_start_from" not in trials[2].user_attrs
    with pytest.raises(KoptError, match=r"optimizer\.lr \(only in this one\)"):
        tune_here(
            tmp_path,
            monkeypatch,
            *space,
            "search.optimizer.lr=interval(1e-3, 1e-1)",
            "tuner.warm_start=runs/tune/a",
            name="c",
        )
    with pytest.raises(KoptError, match=r"model\.width=(4|8) .* outside choice\(16, ?32\)"):
        tune_here(
            tmp_path,
            monkeypatch,
            "tuner=random",
            "search.model.width=choice(16, 32)",
            "tuner.warm_start=runs/tune/a",
            name="d",
        )
    assert not (tmp_path / "runs/tune/c").exists() and not (tmp_path / "runs/tune/d").exists()


def kopt_without_tensorflow(argv: list[str], cwd) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`kopt ARGV` in a process that reports whether TensorFlow loaded (it must not); its error lines."""
    proc = subprocess.run(
        [sys.executable, "-c", NO_TF_SNIPPET.format(argv=argv)],
        cwd=cwd,
        env=kopt_env(),
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert "LOADED: none" in proc.stdout, proc.stdout + proc.stderr
    return proc, [line for line in proc.stderr.splitlines() if line.startswith("kopt: error:")]


@pytest.mark.parametrize(
    "override, needle",
    [
        ("tuner.objectives=[val_accuracy:max,size:min]", "unknown measure 'size'"),
        ("tuner.objectives=[val_accuracy]", "<measure>:<max|min>"),
        ("tuner.objectives=[val_accuracy:max]", "two or more"),
        ("tuner.constraints={params:1e6}", "'<=<number>'"),
        ("tuner.pick='biggest params'", "tuner.pick="),
        ("tuner.enqueue=[{model.depth:2}]", "tuner.enqueue[0].model.depth: not a searched parameter"),
        ("tuner.warm_start=nowhere", "tuner.warm_start=nowhere: no such study dir"),
    ],
)
def test_bad_options_cost_one_line_before_tensorflow(override, needle, tmp_path):
    argv = ["tune", "tuner=random", "search.model.width=choice(4, 8)", TWO, override]
    if "objectives" in override:
        argv.remove(TWO)
    proc, errors = kopt_without_tensorflow(argv, tmp_path)
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert not (tmp_path / "runs").exists()


def test_cmaes_refuses_several_objectives(tmp_path):
    from conftest import run_kopt

    proc = run_kopt("tune", "tuner=cmaes", TWO, cwd=tmp_path)
    assert_clean_error(proc, "tuner.objectives with tuner=cmaes")


def test_a_two_objective_study_over_a_two_choice_space_reuses_its_repeats(tmp_path, monkeypatch):
    """Repeats of a 2-objective study reuse both values of the earlier trial (reading ``value`` stopped the
    study after tuner.max_failures with Optuna's 'not available during multi-objective optimization')."""
    summary, study, study_dir = tune_here(
        tmp_path,
        monkeypatch,
        "tuner=random",
        "tuner.n_trials=4",
        TWO,
        "search.model.width=choice(4, 16)",
        "tuner.enqueue=[{model.width:4},{model.width:4}]",  # the second is a repeat, whatever the seed
    )
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * len(trials)
    trained = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert sorted(t.params["model.width"] for t in trained) == [4, 16]  # the space is used up: the study ends
    repeats = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert repeats and repeats[0].number == 1, [t.params for t in trials]
    for t in repeats:
        original = trials[t.user_attrs["duplicate_of"]]
        assert t.params == original.params and t.values == original.values and len(t.values) == 2
    # a repeat is its original once more, not another member of the front (it was listed twice)
    on_front = sorted({t.number for t in study.best_trials} - {t.number for t in repeats})
    assert summary["pareto"]["front"] == on_front and 0 in on_front
    with open(study_dir / "pareto.csv") as fh:
        assert [int(r["trial"]) for r in csv.DictReader(fh)] == on_front
    assert sorted(p.name for p in (study_dir / "pareto").glob("trial_*.yaml")) == [f"trial_{n}.yaml" for n in on_front]
    assert summary["counts"]["FAIL"] == 0


def test_warm_start_refuses_the_study_itself(tmp_path, monkeypatch):
    """tuner.warm_start naming the study it seeds copied the study's own trials in again (each one then
    twice on a Pareto front): one line instead, and the study keeps its trials."""
    space = ["tuner=random", "search.model.width=choice(4, 8)", "pruner=none", TWO, "tuner.n_trials=2"]
    tune_here(tmp_path, monkeypatch, *space)
    for source in ("runs/tune/s", f"{tmp_path}/runs/tune/s/journal.log#s"):
        with pytest.raises(KoptError, match=rf"tuner\.warm_start={source}: that is this study \(s\) itself"):
            tune_here(tmp_path, monkeypatch, *space, f"tuner.warm_start='{source}'")
    import optuna

    from kopt.tune.running.study import open_storage

    study = optuna.load_study(study_name="s", storage=open_storage(str(tmp_path / "runs/tune/s/journal.log")))
    assert len(study.trials) == 2 and not any("warm_start_from" in t.user_attrs for t in study.trials)


def test_warm_start_from_a_missing_sqlite_file_creates_nothing(tmp_path):
    """It left an empty nope.db behind (opening a SQLite URL creates the database)."""
    argv = ["tune", "tuner=random", "search.model.width=choice(4, 8)", "tuner.warm_start='sqlite:///nope.db#a'"]
    proc, errors = kopt_without_tensorflow(argv, tmp_path)
    assert errors == ["kopt: error: tuner.warm_start=sqlite:///nope.db#a: sqlite:///nope.db does not exist"], (
        proc.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_trial_exactly_on_a_constraint_bound_is_feasible():
    """Optuna's rule: a constraint value <= 0 is kept, so a model of exactly the allowed size counts as
    feasible and can be picked (no trial on a bound was tested)."""
    import optuna

    from kopt.tune.planning.record import TunePlan
    from kopt.tune.results.pareto import feasible, front, picked

    study = optuna.create_study(directions=["maximize", "minimize"])
    for accuracy, params in ((0.9, 100), (0.95, 150), (0.5, 60)):  # constraint params<=100
        trial = study.ask()
        trial.set_constraint("params<=100", float(params - 100))
        trial.set_user_attr("measures", {"val_accuracy": accuracy, "params": params})
        study.tell(trial, [accuracy, params])
    trials = study.get_trials()
    assert [feasible(t) for t in trials] == [True, False, True]
    assert [t.number for t in front(study)] == [0, 2]
    plan = TunePlan.__new__(TunePlan)
    plan.tuner = {"objectives": ["val_accuracy:max", "params:min"], "pick": "max val_accuracy"}
    assert picked(trials, plan).number == 0  # the best feasible one, on the bound


def test_a_worker_on_a_two_objective_study_prints_its_trials_and_counts_what_trained(tmp_path, monkeypatch):
    """`kopt worker` on a study with several objectives: each trial's line reads its first objective (it
    read ``trial.value``, which Optuna refuses with several: the worker stopped with a traceback after its
    first trial), and the counts leave out a repeat (it said 3/2 trials finished)."""
    from conftest import run_kopt

    from kopt.commands.tune import quote_search_overrides, validate_tune
    from kopt.compose import compose_and_validate, search_dirs
    from kopt.tune.planning.plan import build_plan
    from kopt.tune.running.study import start_study

    monkeypatch.chdir(tmp_path)
    argv = [
        *EASY,
        *ONE_EPOCH,
        "tuner.study_name=s",
        "tuner=random",
        "tuner.n_trials=2",
        TWO,
        "search.model.width=choice(4, 16)",
        "tuner.enqueue=[{model.width:4},{model.width:4},{model.width:16}]",
    ]
    line, cfgs = compose_and_validate(quote_search_overrides(argv), "tune", [validate_tune])
    start_study(build_plan(cfgs[0], line.overrides, search_dirs(None)), tmp_path / "runs" / "tune" / "s")
    proc = run_kopt("worker", "tuner.storage=runs/tune/s/journal.log", "tuner.study_name=s", cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("trial ")]
    assert [x.split(" val_accuracy=")[0] for x in lines] == [
        "trial 0: COMPLETE",
        "trial 1: COMPLETE",
        "trial 2: COMPLETE",
    ]
    assert "duplicate of #0" in lines[1], lines
    assert "study s: 2/2 trials finished" in proc.stdout, proc.stdout
