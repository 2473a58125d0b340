"""kopt.ensemble's arithmetic on hand-made members, no run dir on disk and no model (`make mutants`):
the weights, the mean and the vote, each score of evaluate's record."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pytest import approx

from kopt import ensemble
from kopt.errors import KoptError

Y = np.array([0, 1, 1])
RUN = SimpleNamespace(
    path=Path("runs/kf"),
    predictions={
        "y_true": Y,
        "test_idx": np.array([7, 8, 9]),
        "fold_probs": np.array(
            [
                [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]],  # fold 0: 2 of 3 right
                [[0.4, 0.6], [0.3, 0.7], [0.3, 0.7]],  # fold 1: 2 of 3 right
                [[0.8, 0.2], [0.45, 0.55], [0.7, 0.3]],  # fold 2: 2 of 3 right
            ]
        ),
    },
    folds=[{"val_accuracy": 0.5}, {"val_accuracy": 0.25}, {"val_accuracy": 0.25}],
    config={"split": {"name": "kfold"}},
    task="multiclass",
)


def members():
    return ensemble.fold_members(RUN)


def test_fold_members_describe_themselves():
    ms = members()
    assert [m.describe() for m in ms] == [
        {"name": "fold0", "run_dir": "runs/kf", "fold": 0, "val_accuracy": 0.5},
        {"name": "fold1", "run_dir": "runs/kf", "fold": 1, "val_accuracy": 0.25},
        {"name": "fold2", "run_dir": "runs/kf", "fold": 2, "val_accuracy": 0.25},
    ]
    one = SimpleNamespace(
        path=Path("r"), predictions={"fold_probs": np.zeros((1, 3, 2))}, config={"split": {"name": "holdout"}}
    )
    with pytest.raises(KoptError) as err:
        ensemble.fold_members(one)
    assert str(err.value) == "r: one model only (holdout); ensemble a k-fold run, or give several run dirs"


@pytest.mark.parametrize(
    ("value", "score"),
    [(0.5, 0.5), (1, 1.0), (True, None), (None, None), ("0.5", None), (math.nan, None), (math.inf, None)],
)
def test_score_is_a_finite_number_or_none(value, score):
    assert ensemble._score(value) == score


def test_weights():
    ms = members()
    assert ensemble.weights_for(ms, "mean").tolist() == approx([1 / 3] * 3)
    assert ensemble.weights_for(ms, "vote").tolist() == approx([1 / 3] * 3)
    assert ensemble.weights_for(ms, "weighted").tolist() == approx([0.5, 0.25, 0.25])
    ms[0].val_accuracy, ms[1].val_accuracy, ms[2].val_accuracy = -1.0, 0.0, 0.0
    assert ensemble.weights_for(ms, "weighted").tolist() == approx([1 / 3] * 3)  # nothing positive: equal
    ms[0].val_accuracy = 0.2
    assert ensemble.weights_for(ms, "weighted").tolist() == approx([1.0, 0.0, 0.0])
    ms[1].val_accuracy = None
    with pytest.raises(KoptError) as err:
        ensemble.weights_for(ms, "weighted")
    assert str(err.value) == "--method weighted: member fold1 has no val_accuracy"


def test_clipped_and_cross_entropy():
    assert ensemble.clipped(np.array([0.0, 0.5, 2.0], "float32")).tolist() == [1e-7, 0.5, 1.0]
    assert ensemble.clipped(np.array([0.5], "float32")).dtype == np.float64
    assert ensemble.cross_entropy(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1])) == approx(
        -(math.log(0.5) + math.log(0.75)) / 2
    )


def test_combine_mean_and_vote():
    ms = members()
    w = np.full(3, 1 / 3)
    probs, pred = ensemble.combine(ms, "mean", w)
    assert probs.tolist() == approx(np.array([[0.7, 0.3], [0.45, 0.55], [0.4, 0.6]]))
    assert pred.tolist() == [0, 1, 1]
    votes, pred = ensemble.combine(ms, "vote", w)
    # example 1: folds vote 0, 1, 1; example 2: 1, 1, 0; example 0: 0, 1, 0
    assert votes.tolist() == approx(np.array([[2 / 3, 1 / 3], [1 / 3, 2 / 3], [1 / 3, 2 / 3]]))
    assert pred.tolist() == [0, 1, 1]
    tie = [ms[0], ms[1]]  # each example split 1:1 -> the class with the higher mean probability
    votes, pred = ensemble.combine(tie, "vote", np.array([0.5, 0.5]))
    assert votes.tolist() == [[0.5, 0.5], [0.5, 0.5], [0.0, 1.0]]
    assert pred.tolist() == [0, 1, 1]  # means: [.65 .35], [.45 .55], [.25 .75]


def test_evaluate_is_every_score():
    out = ensemble.evaluate(members(), "mean")
    r = out["result"]
    losses = [
        -(math.log(0.9) + math.log(0.4) + math.log(0.8)) / 3,
        -(math.log(0.4) + math.log(0.7) + math.log(0.7)) / 3,
        -(math.log(0.8) + math.log(0.55) + math.log(0.3)) / 3,
    ]
    ens_loss = -(math.log(0.7) + math.log(0.55) + math.log(0.6)) / 3
    assert r == {
        "task": "multiclass",
        "method": "mean",
        "n_members": 3,
        "n_test": 3,
        "scores": ["accuracy", "loss"],
        "ensemble": {"accuracy": 1.0, "loss": approx(ens_loss)},
        "mean_member": {"accuracy": approx(2 / 3), "loss": approx(sum(losses) / 3)},
        "best_member": {"name": "fold0", "accuracy": approx(2 / 3), "loss": approx(losses[0])},
        "gain": {
            "accuracy": approx(1 / 3),
            "loss": approx(ens_loss - sum(losses) / 3),
            "accuracy_over_best": approx(1 / 3),
        },
        "members": [
            {**m, "weight": approx(1 / 3), "accuracy": approx(2 / 3), "loss": approx(loss)}
            for m, loss in zip([x.describe() for x in members()], losses)
        ],
    }
    a = out["arrays"]
    assert sorted(a) == ["member_probs", "probs", "test_idx", "weights", "y_true"]
    assert a["probs"].dtype == np.float32 and a["probs"] == approx(np.array([[0.7, 0.3], [0.45, 0.55], [0.4, 0.6]]))
    assert a["member_probs"].shape == (3, 3, 2) and a["test_idx"].tolist() == [7, 8, 9]
    assert a["y_true"].tolist() == [0, 1, 1] and a["weights"].tolist() == approx([1 / 3] * 3)


def test_evaluate_vote_has_no_loss_and_weighted_uses_the_weights():
    vote = ensemble.evaluate(members(), "vote")["result"]
    assert vote["ensemble"] == {"accuracy": 1.0, "loss": None} and vote["gain"]["loss"] is None
    weighted = ensemble.evaluate(members(), "weighted")
    assert [m["weight"] for m in weighted["result"]["members"]] == approx([0.5, 0.25, 0.25])
    assert weighted["arrays"]["probs"] == approx(np.array([[0.75, 0.25], [0.4875, 0.5125], [0.35, 0.65]]))
    # the best member is the first of the most accurate
    best = ensemble.evaluate([members()[1], members()[0]], "mean")["result"]["best_member"]
    assert best["name"] == "fold1"


def test_evaluate_refuses_bad_requests():
    with pytest.raises(KoptError) as err:
        ensemble.evaluate(members(), "median")
    assert str(err.value) == "--method median: unknown; allowed: mean, vote, weighted"
    with pytest.raises(KoptError) as err:
        ensemble.evaluate(members()[:1])
    assert str(err.value) == "an ensemble needs at least 2 members"
    twice = [members()[0], members()[0]]
    with pytest.raises(KoptError) as err:
        ensemble.evaluate(twice)
    assert str(err.value) == "runs/kf: given twice; each member counts once"


def test_study_objective_reads_the_summary(tmp_path):
    assert ensemble.study_objective(tmp_path) == ("val_accuracy", "maximize")
    (tmp_path / "summary.json").write_text(json.dumps({"tuner": {"metric": "val_loss", "direction": "MINIMIZE"}}))
    assert ensemble.study_objective(tmp_path) == ("val_loss", "minimize")
    (tmp_path / "summary.json").write_text(json.dumps({"metric": "m", "direction": "maximize", "tuner": "x"}))
    assert ensemble.study_objective(tmp_path) == ("m", "maximize")
    (tmp_path / "summary.json").write_text(json.dumps({"direction": "up"}))
    with pytest.raises(KoptError) as err:
        ensemble.study_objective(tmp_path)
    assert str(err.value) == f"{tmp_path / 'summary.json'}: direction 'up'; allowed: maximize, minimize"


def test_study_members_needs_a_trials_folder(tmp_path):
    with pytest.raises(KoptError) as err:
        ensemble.study_members(tmp_path, 3)
    assert str(err.value) == f"--study {tmp_path}: no trials/ folder (not a kopt tune study dir)"
    (tmp_path / "trials" / "0").mkdir(parents=True)
    with pytest.raises(KoptError) as err:
        ensemble.study_members(tmp_path, 3)
    assert (
        str(err.value) == f"--study {tmp_path}: 0 completed trial(s) with metrics.val_accuracy; an ensemble needs >= 2"
    )


def test_two_folds_are_two_members():
    two = SimpleNamespace(
        **{**vars(RUN), "predictions": {**RUN.predictions, "fold_probs": RUN.predictions["fold_probs"][:2]}}
    )
    assert [m.name for m in ensemble.fold_members(two)] == ["fold0", "fold1"]


def fake_trials(tmp_path, monkeypatch, scores):
    """trials/<name>/ folders whose load_run gives a run with metrics.val_accuracy = scores[name] (None: not a member)."""
    for name in scores:
        (tmp_path / "trials" / name).mkdir(parents=True)
    (tmp_path / "trials" / "notes.txt").write_text("")

    def load_run(path):
        value = scores[path.name]
        if value == "pruned":
            raise KoptError("pruned")
        metrics = None if value is None else {"val_accuracy": value, "val_loss": 1 - value if value != "x" else 0}
        return SimpleNamespace(
            path=path,
            summary=SimpleNamespace(metrics=metrics),
            predictions={"probs": np.full((1, 2), 0.5)},
        )

    monkeypatch.setattr(ensemble, "load_run", load_run)
    # the members' test probabilities come from their saved models (TensorFlow): one fixed row each here
    truth = {"y_true": np.array([1]), "test_idx": np.array([0])}
    monkeypatch.setattr(ensemble, "score_test_set", lambda runs: ([np.full((1, 2), 0.5) for _ in runs], truth))


def test_study_members_are_the_best_completed_trials(tmp_path, monkeypatch):
    fake_trials(tmp_path, monkeypatch, {"0": 0.5, "1": "pruned", "2": 0.75, "3": None, "4": 0.25, "5": "x"})
    members, info, truth = ensemble.study_members(str(tmp_path), 2)
    assert truth["y_true"].tolist() == [1]
    assert [(m.name, m.val_accuracy, m.fold) for m in members] == [("trial2", 0.75, None), ("trial0", 0.5, None)]
    assert info == {
        "study": str(tmp_path),
        "metric": "val_accuracy",
        "direction": "maximize",
        "top": 2,
        "completed_trials": 3,
        "values": [0.75, 0.5],
    }
    (tmp_path / "summary.json").write_text(json.dumps({"metric": "val_loss", "direction": "minimize"}))
    members, info, _ = ensemble.study_members(tmp_path, 5)
    assert [m.name for m in members] == ["trial5", "trial2", "trial0", "trial4"]  # val_loss 0, .25, .5, .75
    assert info["values"] == [0, 0.25, 0.5, 0.75] and info["completed_trials"] == 4


def test_a_study_with_one_completed_trial_is_refused(tmp_path, monkeypatch):
    fake_trials(tmp_path, monkeypatch, {"0": 0.5, "1": None})
    with pytest.raises(KoptError) as err:
        ensemble.study_members(tmp_path, 3)
    assert (
        str(err.value) == f"--study {tmp_path}: 1 completed trial(s) with metrics.val_accuracy; an ensemble needs >= 2"
    )


def test_negative_scores_weigh_nothing():
    ms = members()
    ms[0].val_accuracy, ms[1].val_accuracy, ms[2].val_accuracy = 0.5, -0.25, 0.0
    assert ensemble.weights_for(ms, "weighted").tolist() == [1.0, 0.0, 0.0]


# -- several runs: run_members, the test-set checks, score_test_set (its model loading faked) ------------------------


def fake_run(name, task="multiclass", probs=None, test_idx=(7, 8, 9), y_true=(0, 1, 1), dataset="iris", **more):
    """A run dir as kopt.ensemble reads it: path, config, task, summary, predictions, splits."""
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]) if probs is None else np.asarray(probs)
    return SimpleNamespace(
        path=Path("runs") / name,
        config={"dataset": {"name": dataset}},
        task=task,
        summary=SimpleNamespace(metrics=more.pop("metrics", None), seed=more.pop("seed", None)),
        predictions={"probs": probs, "y_true": np.array(y_true), "test_idx": np.array(test_idx)},
        splits={"test": np.array(test_idx)},
        **more,
    )


def test_run_members_are_whole_runs():
    a = fake_run("a", metrics={"val_accuracy": 0.75})
    b = fake_run("b", probs=[[0.5, 0.5]] * 3, metrics=None)
    c = fake_run("c", metrics={"val_accuracy": math.nan})
    ms = ensemble.run_members([a, b, c])
    assert [(m.name, m.run, m.fold, m.val_accuracy) for m in ms] == [
        ("a", a, None, 0.75),
        ("b", b, None, None),
        ("c", c, None, None),
    ]
    assert ms[0].probs is a.predictions["probs"] and ms[1].probs is b.predictions["probs"]
    named = ensemble.run_members([a, b], ["first", "second"])
    assert [(m.name, m.run, m.val_accuracy) for m in named] == [("first", a, 0.75), ("second", b, None)]


def refused(message, fn, *args, **kwargs):
    with pytest.raises(KoptError) as err:
        fn(*args, **kwargs)
    assert str(err.value) == message


def one(run, fold=None, probs=None):
    return ensemble.Member(
        f"{run.path.name}{fold}", run, fold, run.predictions["probs"] if probs is None else probs, 0.5
    )


def test_check_same_test_set_compares_every_member_with_the_first():
    a, b, c = fake_run("a"), fake_run("b"), fake_run("c", test_idx=(7, 8, 10))
    ensemble.check_same_test_set([one(a), one(b)])  # same dataset, same test set: fine
    ensemble.check_same_test_set([one(a, 0), one(a, 1)])  # two folds of one run
    same_set = "members are not on the same test set: different test sets (3 vs 3 examples, indices differ)"
    refused(f"{same_set}; runs/a vs runs/c", ensemble.check_same_test_set, [one(a), one(c)])
    refused(f"{same_set}; runs/a vs runs/c", ensemble.check_same_test_set, [one(a), one(b), one(c)])
    refused(f"{same_set}; runs/c vs runs/a", ensemble.check_same_test_set, [one(c), one(a), one(b)])
    refused(f"{same_set}; runs/a vs runs/c", ensemble.check_same_test_set, [one(a, 0), one(a, 1), one(c)])
    # scored here: the saved predictions' test sets are not compared, the datasets still are
    ensemble.check_same_test_set([one(a), one(c)], scored=True)
    other = fake_run("d", dataset="wine", test_idx=(7, 8, 10))
    for scored in (False, True):
        refused(
            'members are not on the same test set: different dataset ({"name": "iris"} vs {"name": "wine"}); runs/a vs runs/d',
            ensemble.check_same_test_set,
            [one(a), one(other)],
            scored=scored,
        )
    same_idx = fake_run("e", dataset="wine")  # same test set, another dataset
    refused(
        'members are not on the same test set: different dataset ({"name": "iris"} vs {"name": "wine"}); runs/a vs runs/e',
        ensemble.check_same_test_set,
        [one(a), one(same_idx)],
    )
    refused(
        "members disagree on the number of outputs: (3, 2) vs (3, 3)",
        ensemble.check_same_test_set,
        [one(a), one(b, probs=np.full((3, 3), 1 / 3))],
    )
    refused("runs/a: given twice; each member counts once", ensemble.check_same_test_set, [one(a), one(b), one(a)])


def test_task_of_needs_one_task():
    assert ensemble.task_of([one(fake_run("a", "regression")), one(fake_run("b", "regression"))]) == "regression"
    refused(
        "members are of different tasks (multiclass, regression); an ensemble needs one",
        ensemble.task_of,
        [one(fake_run("a", "regression")), one(fake_run("b")), one(fake_run("c", "regression"))],
    )


def test_clipped_by_task():
    p = np.array([[0.0, 1.0, 5.0, -2.0]], "float32")
    assert ensemble.clipped(p, "multilabel").tolist() == [[1e-7, 1 - 1e-7, 1 - 1e-7, 1e-7]]
    assert ensemble.clipped(p, "multiclass").tolist() == [[1e-7, 1.0, 1.0, 1e-7]]
    assert ensemble.clipped(p).tolist() == [[1e-7, 1.0, 1.0, 1e-7]]
    regression = ensemble.clipped(p, "regression")
    assert regression.tolist() == [[0.0, 1.0, 5.0, -2.0]] and regression.dtype == np.float64


def test_multilabel_cross_entropy_is_binary_per_label():
    probs, y = np.array([[0.8, 0.3], [0.4, 0.9]]), np.array([[1, 0], [0, 1]])
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.6) + math.log(0.9)) / 4
    assert ensemble.cross_entropy(probs, y, "multilabel") == approx(expected)
    assert ensemble.scores_of(probs, np.array([[1, 0], [1, 1]]), y, "multilabel") == {
        "accuracy": 0.75,
        "loss": approx(expected),
    }
    assert ensemble.scores_of(probs, np.array([[1, 0], [1, 1]]), y, "multilabel", "vote") == {
        "accuracy": 0.75,
        "loss": None,
    }


def test_regression_scores_are_mae_and_rmse():
    assert ensemble.scores_of(np.array([[3.0], [0.0]]), None, np.array([1.0, 1.0]), "regression") == {
        "mae": 1.5,
        "rmse": approx(math.sqrt(2.5)),
    }


def labels(name, probs):
    return ensemble.Member(name, fake_run(name, "multilabel"), None, np.array(probs), 0.5)


def test_combine_multilabel_mean_and_vote():
    # 2 examples x 4 labels; member b's 0.5 is no vote for yes
    a = labels("a", [[0.25, 1.0, 0.9, 0.7], [0.8, 0.5, 0.2, 0.1]])
    b = labels("b", [[0.75, 1.0, 0.2, 0.5], [0.9, 0.5, 0.4, 0.2]])
    w = np.array([0.5, 0.5])
    mean, pred = ensemble.combine([a, b], "mean", w, "multilabel")
    assert mean == approx(np.array([[0.5, 1 - 1e-7, 0.55, 0.6], [0.85, 0.5, 0.3, 0.15]]), abs=1e-12)
    assert mean[0, 1] == 1 - 1e-7  # clipped below 1 as a binary cross-entropy clips
    assert pred.tolist() == [[False, True, True, True], [True, False, False, False]]
    votes, pred = ensemble.combine([a, b], "vote", w, "multilabel")
    assert votes.tolist() == [[0.5, 1.0, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0]]
    # ties (0.5 of the votes): the mean probability, 0.5 itself is no
    assert pred.tolist() == [[False, True, True, True], [True, False, False, False]]
    votes, pred = ensemble.combine([a, b], "vote", np.array([0.25, 0.75]), "multilabel")
    assert votes.tolist() == [[0.75, 1.0, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]]
    assert pred.tolist() == [[True, True, False, False], [True, False, False, False]]


def test_combine_regression_is_the_weighted_mean_twice():
    a = ensemble.Member("a", fake_run("a", "regression"), None, np.array([[2.0], [-1.0]]), None)
    b = ensemble.Member("b", fake_run("b", "regression"), None, np.array([[4.0], [3.0]]), None)
    mean, pred = ensemble.combine([a, b], "mean", np.array([0.25, 0.75]), "regression")
    assert mean.tolist() == [[3.5], [2.0]] and pred.tolist() == [[3.5], [2.0]]


def test_evaluate_a_regression_ensemble():
    a = ensemble.Member(
        "a", fake_run("a", "regression", y_true=(1.0, 2.0, 3.0)), None, np.array([[2.0], [2.0], [5.0]]), None
    )
    b = ensemble.Member(
        "b", fake_run("b", "regression", y_true=(1.0, 2.0, 3.0)), None, np.array([[0.0], [2.0], [2.0]]), None
    )
    for method in ("vote", "weighted"):
        refused(
            f"--method {method}: a regression ensemble averages the members' predicted values "
            "(no classes to vote on, no val_accuracy to weigh by); allowed: mean",
            ensemble.evaluate,
            [a, b],
            method,
        )
    out = ensemble.evaluate([a, b], "mean")
    r = out["result"]
    # ensemble: 1, 2, 3.5 -> errors 0, 0, .5; a: 1, 0, 2; b: -1, 0, -1
    assert r["scores"] == ["mae", "rmse"] and r["task"] == "regression"
    assert r["ensemble"] == {"mae": approx(0.5 / 3), "rmse": approx(math.sqrt(0.25 / 3))}
    assert [(m["name"], m["mae"], m["rmse"]) for m in r["members"]] == [
        ("a", approx(1.0), approx(math.sqrt(5 / 3))),
        ("b", approx(2 / 3), approx(math.sqrt(2 / 3))),
    ]
    assert r["mean_member"] == {"mae": approx(5 / 6), "rmse": approx((math.sqrt(5 / 3) + math.sqrt(2 / 3)) / 2)}
    assert r["best_member"] == {"name": "b", "mae": approx(2 / 3), "rmse": approx(math.sqrt(2 / 3))}
    assert r["gain"] == {
        "mae": approx(0.5 / 3 - 5 / 6),
        "rmse": approx(math.sqrt(0.25 / 3) - (math.sqrt(5 / 3) + math.sqrt(2 / 3)) / 2),
        "mae_over_best": approx(0.5 / 3 - 2 / 3),
    }
    assert out["arrays"]["probs"].tolist() == [[1.0], [2.0], [3.5]]


def test_evaluate_a_multilabel_ensemble():
    y = np.array([[0, 1], [1, 0]])
    a = ensemble.Member("a", fake_run("a", "multilabel", y_true=y), None, np.array([[1.0, 0.8], [0.6, 0.4]]), 0.5)
    b = ensemble.Member("b", fake_run("b", "multilabel", y_true=y), None, np.array([[0.2, 0.6], [0.9, 0.1]]), 0.5)
    r = ensemble.evaluate([a, b], "mean")["result"]
    eps = 1e-7
    loss_a = -(math.log(eps) + math.log(0.8) + math.log(0.6) + math.log(0.6)) / 4  # 1.0 clipped to 1 - eps
    loss_b = -(math.log(0.8) + math.log(0.6) + math.log(0.9) + math.log(0.9)) / 4
    mean = np.array([[(1 - eps + 0.2) / 2, 0.7], [0.75, 0.25]])
    loss = -(math.log(1 - mean[0, 0]) + math.log(0.7) + math.log(0.75) + math.log(0.75)) / 4
    assert [(m["name"], m["accuracy"], m["loss"]) for m in r["members"]] == [
        ("a", 0.75, approx(loss_a)),
        ("b", 1.0, approx(loss_b)),
    ]
    assert r["ensemble"] == {"accuracy": 0.75, "loss": approx(loss)}
    assert r["best_member"] == {"name": "b", "accuracy": 1.0, "loss": approx(loss_b)}
    assert r["gain"]["accuracy_over_best"] == -0.25


def test_the_best_member_is_the_most_accurate():
    ms = members()
    ms[1].probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.3, 0.7]])  # fold 1 now 3 of 3 right
    r = ensemble.evaluate(ms, "mean")["result"]
    assert r["best_member"]["name"] == "fold1" and r["best_member"]["accuracy"] == 1.0
    assert r["gain"]["accuracy_over_best"] == 0.0


def test_evaluate_vote_saves_the_vote_shares():
    out = ensemble.evaluate(members(), "vote")
    assert out["arrays"]["probs"] == approx(np.array([[2 / 3, 1 / 3], [1 / 3, 2 / 3], [1 / 3, 2 / 3]]))


def test_evaluate_takes_the_truth_from_the_first_run_or_the_one_given():
    a, b = fake_run("a"), fake_run("b")
    out = ensemble.evaluate([one(a), one(b)], "mean")
    assert out["arrays"]["y_true"] is a.predictions["y_true"] and out["arrays"]["test_idx"] is a.predictions["test_idx"]
    # scored here (a study's trials): the test set given, whatever the runs' predictions.npz say
    c = fake_run("c", test_idx=(1, 2, 3), y_true=(0, 0, 0))
    truth = {"y_true": np.array([1, 1, 1]), "test_idx": np.array([4, 5, 6])}
    out = ensemble.evaluate([one(a), one(c)], "mean", truth)
    assert out["arrays"]["y_true"] is truth["y_true"] and out["arrays"]["test_idx"].tolist() == [4, 5, 6]
    assert out["result"]["ensemble"]["accuracy"] == 1 / 3
    refused(
        "members are not on the same test set: different test sets (3 vs 3 examples, indices differ); runs/a vs runs/c",
        ensemble.evaluate,
        [one(a), one(c)],
        "mean",
    )


def test_two_completed_trials_are_enough(tmp_path, monkeypatch):
    fake_trials(tmp_path, monkeypatch, {"0": 0.5, "1": None, "2": 0.75})
    members, info, _ = ensemble.study_members(tmp_path, 3)
    assert [m.name for m in members] == ["trial2", "trial0"] and info["completed_trials"] == 2


def test_study_members_hold_the_trials_runs_and_the_scored_probabilities(tmp_path, monkeypatch):
    fake_trials(tmp_path, monkeypatch, {"3": 0.5, "10": 0.5, "4": 0.5, "2": 0.75})
    scored = [np.full((1, 2), k / 10) for k in range(4)]
    seen = []

    def score_test_set(runs):
        seen.extend(runs)
        return scored[: len(runs)], {"y_true": np.array([1]), "test_idx": np.array([0])}

    monkeypatch.setattr(ensemble, "score_test_set", score_test_set)
    members, info, _ = ensemble.study_members(tmp_path, 4)
    # equal values: the shorter name first, then by name (trial numbers in order)
    assert [m.name for m in members] == ["trial2", "trial3", "trial4", "trial10"]
    assert [m.run for m in members] == seen and [r.path.name for r in seen] == ["2", "3", "4", "10"]
    assert [m.probs for m in members] == scored


def keep_models(tmp_path, keep):
    (tmp_path / "summary.json").write_text(json.dumps({"metric": "val_accuracy", "keep_models": keep}))


def test_top_is_refused_beyond_the_kept_models(tmp_path, monkeypatch):
    fake_trials(tmp_path, monkeypatch, {"0": 0.5, "1": 0.25, "2": 0.75})
    keep_models(tmp_path, 2)
    refused(
        "--top 3: the study keeps the models of its 2 best trials only (tuner.keep_models=2); "
        "give --top 2 or less, or tune with a larger tuner.keep_models",
        ensemble.study_members,
        tmp_path,
        3,
    )
    assert [m.name for m in ensemble.study_members(tmp_path, 2)[0]] == ["trial2", "trial0"]  # top == keep_models
    keep_models(tmp_path, 3)
    assert len(ensemble.study_members(tmp_path, 4)[0]) == 3  # every completed trial kept its model
    keep_models(tmp_path, True)  # not a count
    assert len(ensemble.study_members(tmp_path, 3)[0]) == 3


def test_a_study_summary_outside_the_study_is_not_followed(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    (tmp_path / "elsewhere.json").write_text(json.dumps({"metric": "val_loss", "keep_models": 1}))
    (study / "summary.json").symlink_to(tmp_path / "elsewhere.json")
    message = f"{study / 'summary.json'}: a link that leads outside {study}; not followed"
    refused(message, ensemble.study_objective, study)
    refused(message, ensemble._study_info, study)
    (study / "summary.json").unlink()
    assert ensemble._study_info(study) == {}
    keep_models(study, 4)
    assert ensemble._study_info(study) == {"metric": "val_accuracy", "keep_models": 4}


class Recorder:
    """score_test_set's model loading, faked: each saved model predicts its own fixed probabilities."""

    def __init__(self, monkeypatch, outputs, x):
        from kopt.data import datasets
        from kopt.predict import model, source

        self.calls = []
        self.outputs = outputs  # file name -> (n, classes) probabilities
        monkeypatch.setattr(source, "model_files", lambda run: [Path(f) for f in run.files])
        monkeypatch.setattr(model, "load_member", lambda f, name: self.calls.append(("load", f.name, name)) or f.name)
        monkeypatch.setattr(model, "predict", lambda m, x: self.calls.append(("predict", m, x.tolist())) or outputs[m])

        def load_dataset(cfg, seed):
            self.calls.append(("dataset", dict(cfg), seed))
            return SimpleNamespace(x=x, y=np.array([10, 11, 12, 13]))

        monkeypatch.setattr(datasets, "load_dataset", load_dataset)
        import kopt.runtime

        monkeypatch.setattr(kopt.runtime, "setup_tensorflow", lambda *args: self.calls.append(("tf", *args)))


def test_score_test_set_predicts_each_run_on_the_first_runs_test_set(monkeypatch):
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    out = {
        "model_fold0.keras": np.array([[0.2, 0.8], [0.6, 0.4]]),
        "model_fold1.keras": np.array([[0.4, 0.6], [1.0, 0.0]]),
        "model.keras": np.array([[0.5, 0.5], [0.1, 0.9]]),
    }
    rec = Recorder(monkeypatch, out, x)
    a = fake_run("a", test_idx=(3, 1), seed=7, files=["a/model_fold0.keras", "a/model_fold1.keras"])
    b = fake_run("b", test_idx=(3, 1), seed=5, files=["b/model.keras"])
    probs, truth = ensemble.score_test_set([a, b])
    assert len(probs) == 2 and probs[0] == approx(np.array([[0.3, 0.7], [0.8, 0.2]]))
    assert probs[1].tolist() == [[0.5, 0.5], [0.1, 0.9]]
    assert truth["y_true"].tolist() == [13, 11] and truth["test_idx"].tolist() == [3, 1]
    assert rec.calls == [
        ("tf", 7, True, 0, 0, False),
        ("dataset", {"name": "iris"}, 7),
        ("load", "model_fold0.keras", "m0_model_fold0"),
        ("predict", "model_fold0.keras", [[3.0], [1.0]]),
        ("load", "model_fold1.keras", "m0_model_fold1"),
        ("predict", "model_fold1.keras", [[3.0], [1.0]]),
        ("load", "model.keras", "m1_model"),
        ("predict", "model.keras", [[3.0], [1.0]]),
    ]
    rec.calls.clear()
    a.summary.seed = None  # no seed recorded: 0
    ensemble.score_test_set([a])
    assert rec.calls[:2] == [("tf", 0, True, 0, 0, False), ("dataset", {"name": "iris"}, 0)]


def test_score_test_set_refuses_runs_on_another_test_set(monkeypatch):
    rec = Recorder(monkeypatch, {}, np.zeros((4, 1)))
    a = fake_run("a", test_idx=(3, 1), files=["a/model.keras"])
    b = fake_run("b", test_idx=(3, 1), files=["b/model.keras"])
    c = fake_run("c", test_idx=(3, 1, 2), files=["c/model.keras"])
    d = fake_run("d", dataset="wine", test_idx=(3, 2), files=["d/model.keras"])
    refused(
        "members are not on the same test set: different test sets (2 vs 3 examples, indices differ); runs/a vs runs/c",
        ensemble.score_test_set,
        [a, b, c],
    )
    refused(
        'members are not on the same test set: different dataset ({"name": "iris"} vs {"name": "wine"}); '
        "runs/a vs runs/d",
        ensemble.score_test_set,
        [a, d],
    )
    assert rec.calls == []  # refused before TensorFlow loads
