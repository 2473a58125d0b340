"""kopt.tune.results.pareto on in-memory Optuna studies, no training (`make mutants`): the front, tuner.pick,
the best trial, pareto.csv, its axes, and kopt report's table of it. tests/test_tune_pareto.py runs
whole studies."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from kopt.tune.results import pareto

optuna.logging.set_verbosity(optuna.logging.WARNING)
TWO = {"objectives": ["val_accuracy:max", "params:min"]}


def plan_of(tuner=None, metric="val_accuracy", direction="maximize"):
    return SimpleNamespace(tuner=dict(tuner or {}), metric=metric, direction=direction, study_name="s")


def make(values, width, state=TrialState.COMPLETE, constraints=None, **measures):
    return create_trial(
        state=state,
        values=values if state == TrialState.COMPLETE else None,
        params={"model.width": width},
        distributions={"model.width": CategoricalDistribution([8, 16, 32, 64])},
        user_attrs={"measures": measures, "run_dir": f"trials/{width}"} if measures else {},
        constraints=constraints,
    )


def study_of(*trials, directions=("maximize", "minimize")):
    study = optuna.create_study(directions=list(directions))
    for t in trials:
        study.add_trial(t)
    return study


def test_measures_are_a_copy_and_empty_when_unrecorded():
    t = make([0.9, 100], 8, val_accuracy=0.9, params=100)
    m = pareto.measures(t)
    assert m == {"val_accuracy": 0.9, "params": 100}
    m["params"] = 1
    assert pareto.measures(t)["params"] == 100
    assert pareto.measures(make([0.9, 100], 8)) == {}
    assert pareto.measures(SimpleNamespace(user_attrs={"measures": None})) == {}


def test_feasible_is_complete_and_within_every_constraint():
    assert pareto.feasible(make([0.9, 1], 8, constraints={"params": 0.0, "flops": -3.0}))
    assert not pareto.feasible(make([0.9, 1], 8, constraints={"params": 0.0, "flops": 0.5}))
    assert pareto.feasible(make([0.9, 1], 8))
    assert not pareto.feasible(make(None, 8, state=TrialState.PRUNED))


def test_one_objective_is_the_metric_and_its_direction():
    assert pareto._objectives(plan_of(metric="val_loss", direction="minimize")) == [("val_loss", "minimize")]
    assert pareto._objectives(plan_of(TWO)) == [("val_accuracy", "maximize"), ("params", "minimize")]


TRIALS = [
    make([0.80, 100], 8, val_accuracy=0.80, params=100),  # 0: front (smallest)
    make([0.90, 400], 16, val_accuracy=0.90, params=400),  # 1: front
    make([0.85, 500], 32, val_accuracy=0.85, params=500),  # 2: dominated by 1
    make([0.95, 900], 64, val_accuracy=0.95, params=900),  # 3: front (most accurate)
]


def test_front_is_the_non_dominated_trials_by_number():
    assert [t.number for t in pareto.front(study_of(*reversed(TRIALS)))] == [0, 2, 3]  # added reversed
    assert [t.number for t in pareto.front(study_of(*TRIALS))] == [0, 1, 3]


def test_pick_takes_the_best_feasible_trial_within_its_bounds():
    trials = study_of(*TRIALS).get_trials()
    assert pareto.picked(trials, plan_of({**TWO, "pick": "max val_accuracy where params<=500"})).number == 1
    assert pareto.picked(trials, plan_of({**TWO, "pick": "max val_accuracy where params<=900"})).number == 3
    assert pareto.picked(trials, plan_of({**TWO, "pick": "min params where val_accuracy>=0.85"})).number == 1
    assert pareto.picked(trials, plan_of({**TWO, "pick": "min val_accuracy"})).number == 0
    assert pareto.picked(trials, plan_of({**TWO, "pick": "max val_accuracy where params<=50"})) is None
    assert pareto.picked(trials, plan_of(TWO)) is None  # no pick


def test_pick_leaves_out_infeasible_trials_and_trials_missing_a_measure():
    trials = study_of(
        make([0.99, 10], 8, constraints={"params": 1.0}, val_accuracy=0.99, params=10),  # infeasible
        make([0.98, 10], 16, val_accuracy=0.98),  # no params: the bound cannot be checked
        make([0.97, 10], 32, params=10),  # no val_accuracy
        make([0.90, 10], 64, val_accuracy=0.90, params=10),
        make([0.90, 10], 64, val_accuracy=0.90, params=10),  # a tie: the earlier trial
    ).get_trials()
    assert pareto.picked(trials, plan_of({**TWO, "pick": "max val_accuracy where params<=100"})).number == 3
    assert pareto.picked(trials, plan_of({**TWO, "pick": "max val_accuracy"})).number == 1


def test_best_of_one_objective_is_optunas_best_or_none():
    single = optuna.create_study(direction="maximize")
    assert pareto.best_of(single, plan_of()) is None
    single.add_trial(create_trial(value=0.7))
    single.add_trial(create_trial(value=0.9))
    assert pareto.best_of(single, plan_of()).number == 1


def test_best_of_several_objectives_is_the_pick_else_the_front_best_on_the_first():
    study = study_of(*TRIALS)
    assert pareto.best_of(study, plan_of(TWO)).number == 3
    assert pareto.best_of(study, plan_of({**TWO, "pick": "max val_accuracy where params<=500"})).number == 1
    assert pareto.best_of(study, plan_of({**TWO, "pick": "max val_accuracy where params<=5"})).number == 3
    smallest_first = {"objectives": ["params:min", "val_accuracy:max"]}
    flipped = study_of(*[make([t.values[1], t.values[0]], 8) for t in TRIALS], directions=("minimize", "maximize"))
    assert pareto.best_of(flipped, plan_of(smallest_first)).number == 0
    tied = study_of(make([0.9, 100], 8), make([0.9, 100], 16))
    assert pareto.best_of(tied, plan_of(TWO)).number == 0
    assert pareto.best_of(study_of(), plan_of(TWO)) is None


def test_pareto_csv_is_every_member_with_its_measures_and_parameters(tmp_path):
    study = study_of(*TRIALS, make([0.5, 50], 8, val_accuracy=0.5, params=50, flops=7))
    members = pareto.front(study)
    pareto.write_csv(tmp_path, members, plan_of(TWO))
    assert (tmp_path / "pareto.csv").read_text().splitlines() == [
        "trial,val_accuracy,params,flops,run_dir,params_model.width",
        "0,0.8,100,,trials/8,8",
        "1,0.9,400,,trials/16,16",
        "3,0.95,900,,trials/64,64",
        "4,0.5,50,7,trials/8,8",
    ]
    bare = study_of(make([0.8, 100.0], 8))  # no measures recorded: the objective values
    pareto.write_csv(tmp_path, pareto.front(bare), plan_of(TWO))
    assert (tmp_path / "pareto.csv").read_text().splitlines() == [
        "trial,val_accuracy,params,run_dir,params_model.width",
        "0,0.8,100.0,,8",
    ]


@pytest.mark.parametrize(
    ("objectives", "axes"),
    [
        (["val_accuracy:max", "params:min"], ("params", "val_accuracy")),
        (["params:min", "val_loss:min"], ("params", "val_loss")),
        (["params:min", "flops:min"], ("flops", "params")),
        (["latency_ms:min", "val_accuracy:max", "params:min"], ("latency_ms", "val_accuracy")),
    ],
)
def test_axes_put_the_first_validation_objective_up(objectives, axes):
    assert pareto.axes_of(plan_of({"objectives": objectives})) == axes


def test_values_are_the_measures_with_the_objective_values():
    t = make([0.8, 100], 8, val_accuracy=0.79, flops=5)
    assert pareto._values(t, plan_of(TWO)) == {"val_accuracy": 0.8, "flops": 5, "params": 100}
    assert pareto._values(make(None, 8, state=TrialState.PRUNED, flops=5), plan_of(TWO)) == {"flops": 5}


def test_study_dirs_with_a_front_are_found_in_runs_and_runs_tune(tmp_path):
    for d in ("a", "tune/b", "tune/c", "d"):
        (tmp_path / d).mkdir(parents=True)
    for d in ("a", "tune/b", "tune/c"):
        (tmp_path / d / "pareto.csv").write_text("trial\n")
    found = pareto.study_dirs_with_front([tmp_path, tmp_path / "tune" / "b", tmp_path / "a"])
    assert found == [tmp_path / "a", tmp_path / "tune" / "b", tmp_path / "tune" / "c"]
    assert pareto.study_dirs_with_front([tmp_path / "tune" / "c"]) == [tmp_path / "tune" / "c"]
    assert pareto.study_dirs_with_front([tmp_path / "d"]) == []


def cells(table) -> list[list[str]]:
    return [list(row) for row in zip(*(c._cells for c in table.columns))]


def test_front_table_shows_each_member_and_its_retrained_test_accuracy(tmp_path):
    (tmp_path / "pareto.csv").write_text(
        "trial,val_accuracy,params,run_dir,params_model.width\n0,0.812345,12345,trials/0,8\n1,0.9,400,trials/1,x\n"
    )
    (tmp_path / "summary.json").write_text(
        '{"retrain": {"trial": 1, "test_accuracy": 0.91234},'
        ' "pareto": {"retrain": [{"trial": 0, "test_accuracy": 0.5}, {"trial": 2, "error": "boom"}, "junk"]}}'
    )
    table = pareto.front_table(tmp_path)
    assert table.title == f"Pareto front of {tmp_path.name}: 2 trial(s)"
    assert [c.header for c in table.columns] == ["trial", "val_accuracy", "params", "model.width", "test_accuracy"]
    assert {c.justify for c in table.columns} == {"right"}
    assert cells(table) == [["0", "0.8123", "12,345", "8", "0.5000"], ["1", "0.9", "400", "x", "0.9123"]]


def test_front_table_without_a_summary(tmp_path):
    (tmp_path / "pareto.csv").write_text("trial,params\n3,1000000\n")
    table = pareto.front_table(tmp_path)
    assert cells(table) == [["3", "1,000,000", ""]]
    (tmp_path / "summary.json").write_text('{"retrain": null, "pareto": {"retrain": null}}')
    assert cells(pareto.front_table(tmp_path)) == [["3", "1,000,000", ""]]
    (tmp_path / "pareto.csv").write_text("")
    empty = pareto.front_table(tmp_path)
    assert [c.header for c in empty.columns] == ["trial", "test_accuracy"] and cells(empty) == []
    assert empty.title == f"Pareto front of {tmp_path.name}: 0 trial(s)"


@pytest.mark.parametrize(
    ("text", "shown"), [("1234567", "1,234,567"), ("0.123456", "0.1235"), ("2e-7", "2e-07"), ("x", "x")]
)
def test_cells_format_integers_and_floats(text, shown):
    assert pareto._cell(text) == shown


def test_finish_writes_the_front_and_reports_it(tmp_path, monkeypatch):
    from kopt.tune.results import best

    def fake_yaml(folder, plan, t, groups, stem):
        path = Path(folder) / f"{stem}.yaml"
        path.write_text(f"{best.MARKER}\n")
        return path

    monkeypatch.setattr(best, "write_best_yaml", fake_yaml)
    (tmp_path / "pareto").mkdir()
    (tmp_path / "pareto" / "trial_2.yaml").write_text(f"{best.MARKER}\n")  # no longer on the front: removed
    (tmp_path / "pareto" / "trial_9.yaml").write_text("# the user's own\n")  # kept
    study = study_of(*TRIALS)
    out = pareto.finish(
        study, plan_of({**TWO, "retrain_best": False, "pick": "max val_accuracy where params<=500"}), tmp_path, None
    )
    assert out == {
        "objectives": ["val_accuracy:max", "params:min"],
        "front": [0, 1, 3],
        "csv": "pareto.csv",
        "configs": ["pareto/trial_0.yaml", "pareto/trial_1.yaml", "pareto/trial_3.yaml"],
        "pick": {"rule": "max val_accuracy where params<=500", "trial": 1},
        "png": "pareto.png",
    }
    assert sorted(p.name for p in (tmp_path / "pareto").iterdir()) == [
        "trial_0.yaml",
        "trial_1.yaml",
        "trial_3.yaml",
        "trial_9.yaml",
    ]
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    assert pareto.finish(study, plan_of(), tmp_path, None) == {}


def test_finish_retrains_the_other_front_members(tmp_path, monkeypatch):
    from kopt.errors import RunFailed
    from kopt.tune.results import best, retrain

    monkeypatch.setattr(best, "write_best_yaml", lambda folder, plan, t, groups, stem: Path(folder) / f"{stem}.yaml")

    def fake_retrain(plan, t, study_dir):
        if t.number == 3:
            raise RunFailed("out of memory")
        return {"trial": t.number, "test_accuracy": 0.5}

    monkeypatch.setattr(retrain, "retrain_best", fake_retrain)
    study = study_of(*TRIALS)
    out = pareto.finish(study, plan_of(TWO), tmp_path, study.trials[1])
    assert "pick" not in out
    assert out["retrain"] == [{"trial": 0, "test_accuracy": 0.5}, {"trial": 3, "error": "out of memory"}]
    out = pareto.finish(study, plan_of(TWO), tmp_path, None)
    assert [r["trial"] for r in out["retrain"]] == [0, 1, 3]
    assert "retrain" not in pareto.finish(study, plan_of({**TWO, "retrain_best": False}), tmp_path, None)


def test_a_failed_plot_is_named_in_one_line(tmp_path, monkeypatch):
    from kopt.tune.results import best

    monkeypatch.setattr(best, "write_best_yaml", lambda folder, plan, t, groups, stem: Path(folder) / f"{stem}.yaml")

    def boom(*args):
        raise RuntimeError("no\n   display " + "x" * 200)

    monkeypatch.setattr(pareto, "figure_of", boom)
    out = pareto.finish(study_of(*TRIALS), plan_of({**TWO, "retrain_best": False}), tmp_path, None)
    assert out["png"] == ("skipped: no display " + "x" * 200)[:129]


def drawn(fig):
    ax = fig.axes[0]
    lines = [
        (
            line.get_label(),
            line.get_marker(),
            line.get_color(),
            line.get_linestyle(),
            list(line.get_xdata()),
            list(line.get_ydata()),
        )
        for line in ax.get_lines()
    ]
    notes = [
        (a.get_text(), tuple(a.xy), a.get_fontsize(), tuple(a.xyann), a.anncoords, a.get_fontweight()) for a in ax.texts
    ]
    return ax, lines, notes


def test_figure_of_draws_trials_infeasible_ones_and_the_front():
    from kopt.plotstyle import BEST

    over = make([0.99, 50], 8, constraints={"params": 1.0}, val_accuracy=0.99, params=50)  # 4: infeasible
    pruned = make(None, 16, state=TrialState.PRUNED, val_accuracy=0.5, params=7)  # measured, yet not complete
    trials = study_of(*TRIALS, over, make(None, 16, state=TrialState.PRUNED), pruned).get_trials()
    members = [trials[3], trials[0], trials[1]]  # drawn in x order
    assert pareto.axes_of(plan_of(TWO)) == ("params", "val_accuracy")
    fig = pareto.figure_of(trials, members, plan_of(TWO))
    ax, lines, notes = drawn(fig)
    assert lines == [
        ("trial", "o", "0.6", "None", [500], [0.85]),
        ("infeasible", "x", "tab:red", "None", [50], [0.99]),
        ("Pareto front", "o", BEST, "-", [100, 400, 900], [0.80, 0.90, 0.95]),
    ]
    front = ax.get_lines()[2]
    assert (front.get_linewidth(), front.get_markersize(), front.get_drawstyle()) == (1.5, 7, "steps-post")
    assert notes == [
        ("#0", (100, 0.80), 7, (3, 3), "offset points", "bold"),
        ("#1", (400, 0.90), 7, (3, 3), "offset points", "bold"),
        ("#2", (500, 0.85), 7, (3, 3), "offset points", "normal"),
        ("#3", (900, 0.95), 7, (3, 3), "offset points", "bold"),
        ("#4", (50, 0.99), 7, (3, 3), "offset points", "normal"),
    ]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == (
        "Pareto front: 3 of 5 completed trials",
        "params",
        "val_accuracy",
    )
    assert ax.get_xscale() == "linear"  # 900 / 50 = 18: not above 20
    legend = fig.legends[0] if fig.legends else ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["trial", "infeasible", "Pareto front"]
    from kopt.plotstyle import FONT

    # the legend below the axes: the figure grows by its three rows
    assert fig.get_size_inches().tolist() == pytest.approx([7.5, 4.8 + 3 * 1.75 * (FONT - 1) / 72 + 0.3])


def test_figure_of_scales_a_wide_x_range_and_skips_empty_groups():
    trials = study_of(TRIALS[0], make([0.99, 2001], 8, val_accuracy=0.99, params=2001)).get_trials()
    fig = pareto.figure_of(trials, trials, plan_of(TWO))  # both on the front: no grey group, no red one
    ax, lines, notes = drawn(fig)
    assert ax.get_xscale() == "log"  # 2001 / 100 > 20
    assert [line[0] for line in lines] == ["Pareto front"] and list(lines[0][4:]) == [[100, 2001], [0.80, 0.99]]
    fig = pareto.figure_of(trials[:1], [], plan_of(TWO))
    ax, lines, notes = drawn(fig)
    assert [line[0] for line in lines] == ["trial"] and ax.get_title() == "Pareto front: 0 of 1 completed trials"
    assert ax.get_xscale() == "linear"  # one x value
    small = study_of(make([0.8, 0.5], 8, val_accuracy=0.8, params=0.5), make([0.9, 20], 8, val_accuracy=0.9, params=20))
    assert pareto.figure_of(small.get_trials(), [], plan_of(TWO)).axes[0].get_xscale() == "log"  # 40 times, below 1
    later_smaller = study_of(TRIALS[3], TRIALS[0]).get_trials()  # trial 0 the larger: drawn in x order, not by number
    front = pareto.figure_of(later_smaller, later_smaller, plan_of(TWO)).axes[0].get_lines()[-1]
    assert list(front.get_xdata()) == [100, 900]
    exactly = study_of(TRIALS[0], make([0.99, 2000], 8, val_accuracy=0.99, params=2000)).get_trials()
    assert pareto.figure_of(exactly, [], plan_of(TWO)).axes[0].get_xscale() == "linear"  # 20, not above
    zero = study_of(make([0.5, 0], 8, val_accuracy=0.5, params=0), TRIALS[3]).get_trials()
    assert pareto.figure_of(zero, [], plan_of(TWO)).axes[0].get_xscale() == "linear"  # 0 has no log


def test_figure_of_without_a_completed_trial_says_so():
    trials = study_of(make(None, 16, state=TrialState.PRUNED)).get_trials()
    ax = pareto.figure_of(trials, [], plan_of(TWO)).axes[0]
    assert (
        ax.get_lines() == [] and [t.get_text() for t in ax.texts] == ["no completed trial yet"] and ax.get_title() == ""
    )
    assert pareto.figure_of([], [], plan_of(TWO)).axes[0].texts[0].get_text() == "no completed trial yet"
