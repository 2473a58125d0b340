"""The search space: Hydra sweep grammar -> Optuna distributions, conditional parameters, and the
checks that run before any trial (no TensorFlow here)."""

from __future__ import annotations

import optuna
import pytest
from conftest import TINY, TINY_DATA

from kopt.commands.tune import pin_override, quote_search_overrides
from kopt.compose import compose_and_validate, search_dirs
from kopt.errors import KoptError
from kopt.tune.planning.plan import TunePlan, build_plan
from kopt.tune.planning.space import parse_search


def dist(expr):
    return parse_search({"x": expr}).params[0].dist


@pytest.mark.parametrize(
    "expr, kind, low, high, step, log",
    [
        ("interval(0.1, 0.5)", "float", 0.1, 0.5, None, False),
        ("tag(log, interval(1e-4, 1e-1))", "float", 1e-4, 1e-1, None, True),
        ("int(interval(16, 128))", "int", 16, 128, 1, False),
        ("tag(log, int(interval(8, 256)))", "int", 8, 256, 1, True),
        ("range(1, 5)", "int", 1, 4, 1, False),  # Python's range: stop excluded
        ("range(0, 10, 3)", "int", 0, 9, 3, False),
        ("range(0.1, 0.5, 0.1)", "float", 0.1, 0.4, 0.1, False),
    ],
)
def test_numeric_expressions(expr, kind, low, high, step, log):
    d = dist(expr)
    assert (d.kind, d.low, d.high, d.step, d.log) == (kind, pytest.approx(low), pytest.approx(high), step, log)


def test_choice_keeps_types_and_grid_values():
    d = dist("choice(16, 0.5, relu, true)")
    assert d.kind == "categorical" and d.choices == (16, 0.5, "relu", True)
    assert dist("range(0.1, 0.5, 0.1)").grid_values("x") == [0.1, 0.2, 0.3, 0.4]
    assert dist("int(interval(2, 5))").grid_values("x") == [2, 3, 4, 5]


def test_plain_values_are_fixed_not_searched():
    space = parse_search(
        {"trainer": {"epochs": 3}, "optimizer.schedule.name": "cosine", "model.width": "choice(8, 16)"}
    )
    assert [(f.target, f.value) for f in space.fixed] == [("trainer.epochs", 3), ("optimizer.schedule.name", "cosine")]
    assert [p.name for p in space.params] == ["model.width"]


def test_conditional_parameters_follow_the_group_choice():
    space = parse_search(
        {
            "model": {"name": "choice(mlp, cnn)", "mlp": {"width": "choice(8, 16)"}, "cnn": {"width": "choice(4, 8)"}},
            "optimizer.lr": "interval(1e-3, 1e-2)",
        }
    )
    assert space.groups == {"model": ["mlp", "cnn"]}
    assert {p.name: p.when for p in space.conditional} == {
        "model.mlp.width": ("model", "mlp"),
        "model.cnn.width": ("model", "cnn"),
    }
    choices, values = space.sample(
        optuna.trial.FixedTrial({"model": "cnn", "model.cnn.width": 8, "optimizer.lr": 0.005})
    )
    assert choices == {"model": "cnn"}
    assert values == {"model.width": 8, "optimizer.lr": 0.005}  # no mlp parameter sampled


@pytest.mark.parametrize(
    "search, needle",
    [
        ({"x": "interval(5, 1)"}, "low < high"),
        ({"x": "tag(log, interval(0, 1))"}, "low > 0"),
        ({"x": "tag(foo, interval(1, 2))"}, "unknown tag 'foo'"),
        ({"x": "tag(log, choice(1, 2))"}, "not choice"),
        ({"x": "range(5, 5)"}, "empty"),
        ({"x": "choice(1, 1)"}, "twice"),
        ({"x": [16, 32]}, "choice(16, 32)"),
        ({"x": "choice(1,"}, "cannot parse"),
        ({"model": "interval(1, 2)"}, "choice(option"),
    ],
)
def test_bad_expressions_are_one_clear_line(search, needle):
    with pytest.raises(KoptError) as err:
        parse_search(search)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_grid_refuses_continuous_and_conditional_spaces():
    with pytest.raises(KoptError, match="continuous"):
        parse_search({"optimizer.lr": "interval(1e-3, 1e-1)"}).grid()
    with pytest.raises(KoptError, match="conditional"):
        parse_search({"model": "choice(mlp, cnn)", "model.cnn.width": "choice(4, 8)"}).grid()


def test_search_overrides_become_quoted_strings():
    argv = [
        "search=cnn_digits",
        "search.model.width=choice(16,32)",
        "+search.x=interval(1, 2)",
        "model=mlp",
        "search.y=choice('a b', c)",
        "search.model=choice(mlp,cnn)",
    ]
    assert quote_search_overrides(argv) == [
        "search=cnn_digits",
        "++search.model.width='choice(16,32)'",
        "++search.x='interval(1, 2)'",
        "model=mlp",
        "++search.y=\"choice('a b', c)\"",
        "++search.model.name='choice(mlp,cnn)'",
    ]


def plan_for(*overrides):
    argv = quote_search_overrides(list(overrides))
    line, cfgs = compose_and_validate(argv, "tune")
    return build_plan(cfgs[0], line.overrides, search_dirs(None))


def test_plan_composes_one_base_per_group_option_and_round_trips():
    plan = plan_for(
        *TINY_DATA,
        "model=cnn",
        "model.width=16",
        "model.dense=64",
        "search.model=choice(mlp, cnn)",
        "search.model.cnn.width=choice(4, 8)",
        "search.model.mlp.width=choice(8, 16)",
    )
    assert set(plan.bases) == {"model=mlp", "model=cnn"}
    assert plan.bases["model=mlp"]["model"]["width"] == 16  # the user's model.* overrides apply to mlp ...
    assert "dense" not in plan.bases["model=mlp"]["model"]  # ... where it has the key (mlp has no dense)
    assert plan.bases["model=cnn"]["model"]["dense"] == 64
    assert plan.bases["model=cnn"]["trainer"]["epochs"] == 2
    again = TunePlan.from_attr(plan.to_attr())
    assert again.differences(plan) == [] and again.space.describe() == plan.space.describe()
    cfg = again.trial_config({"model": "cnn"}, {"model.width": 4})
    assert cfg.model.name == "cnn" and cfg.model.width == 4


@pytest.mark.parametrize(
    "override, needle",
    [
        ("search.model.widht=choice(8, 16)", "unknown key 'widht' in model"),
        ("search.regularizer.dropout=interval(0.0, 1.5)", "regularizer.dropout=1.5 is out of range"),
        ("search.model.width=interval(8, 64)", "write int(interval(8, 64))"),
        ("search.optimizer=choice(adam, rmsprop)", "unknown option 'rmsprop'"),
        ("tuner.n_trials=3", "search is empty"),
        ("search.optimizer.schedule=choice(1, 2)", "is a section"),
    ],
)
def test_plan_checks_keys_and_bounds_before_any_trial(override, needle):
    with pytest.raises(KoptError) as err:
        plan_for(*TINY, override)
    assert needle in str(err.value), str(err.value)


def test_resume_difference_names_the_changed_key():
    a = plan_for(*TINY, "tuner.study_name=x", "search.optimizer.lr=interval(1e-3, 1e-2)")
    b = plan_for(*TINY, "tuner.study_name=x", "search.optimizer.lr=interval(1e-3, 1e-2)", "trainer.epochs=3")
    c = plan_for(
        *TINY,
        "tuner.study_name=x",
        "search.optimizer.lr=interval(1e-3, 1e-2)",
        "tuner=random",
        "tuner.n_trials=5",
        "pruner=none",
    )
    assert b.differences(a) == ["trainer.epochs (2 -> 3)"]
    assert c.differences(a) == []  # tuner, pruner and n_trials may change when a study resumes


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["a=1", "b=2", "--cfg", "job"], ["a=1", "b=2", "tuner.study_name=s", "--cfg", "job"]),
        (["--cfg", "job", "a=1", "tuner.study_name=old"], ["--cfg", "job", "a=1", "tuner.study_name=s"]),
        (["--cfg", "job"], ["tuner.study_name=s", "--cfg", "job"]),
    ],
)
def test_the_pinned_study_name_joins_the_other_overrides(argv, expected):
    overrides = [a for a in argv if "=" in a]
    assert pin_override(argv, overrides, "tuner.study_name=s") == expected
