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
