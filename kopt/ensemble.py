"""Ensembles of test-set probabilities: the fold models of a run, several runs, a study's top trials.

Members of runs are the softmax probabilities already saved in ``predictions.npz`` (``fold_probs``
for the folds of one run, ``probs`` for a whole run), so nothing is re-run or deserialised
from model files. A study's trials never score the test set (docs/compare.md): its top trials,
picked on validation, are scored here, once, by their saved models (``tuner.keep_models`` keeps
them). Every member must have predicted the same test examples.

Loss is the cross-entropy of probabilities clipped below at Keras's epsilon (1e-7), the
same clipping for members and ensemble. The ensemble of ``mean``/``weighted`` averages the
clipped member probabilities, so by Jensen's inequality (-log is convex) its loss is never
above the equally weighted (resp. weighted) mean of its members' losses; accuracy has no
such guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kopt.errors import KoptError
from kopt.rundir import SUMMARY, VAL_ACCURACY, RunDir, load_run
from kopt.runfiles import read_json_object
from kopt.runload import same_dataset, same_test_set

EPSILON = 1e-7  # keras.config.epsilon(): the clipping Keras applies to probabilities in its cross-entropy
METHODS = ("mean", "vote", "weighted")


@dataclass
class Member:
    name: str
    run: RunDir
    fold: int | None
    probs: np.ndarray  # (n, classes)
    val_accuracy: float | None  # the member's validation score (weights, ranking)

    def describe(self) -> dict:
        return {"name": self.name, "run_dir": str(self.run.path), "fold": self.fold, "val_accuracy": self.val_accuracy}


def fold_members(run: RunDir) -> list[Member]:
    probs = run.predictions["fold_probs"]
    if len(probs) < 2:
        raise KoptError(
            f"{run.path}: one model only ({(run.config.get('split') or {}).get('name')}); "
            "ensemble a k-fold run, or give several run dirs"
        )
    return [Member(f"fold{k}", run, k, probs[k], _score(run.folds[k].get(VAL_ACCURACY))) for k in range(len(probs))]


def _score(value) -> float | None:
    """A recorded score, or None when it is missing or not a finite number."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    return float(value) if ok else None


def run_members(runs: list[RunDir], names: list[str] | None = None) -> list[Member]:
    return [
        Member(
            names[i] if names else run.path.name,
            run,
            None,
            run.predictions["probs"],
            _score((run.summary.metrics or {}).get(VAL_ACCURACY)),
        )
        for i, run in enumerate(runs)
    ]


def study_objective(study_dir: Path) -> tuple[str, str]:
    """(metric, direction) recorded by `kopt tune` in the study's summary.json; val_accuracy/maximize if absent."""
    path = study_dir / SUMMARY
    info: dict = {}
    if path.exists():
        info = read_json_object(path, root=study_dir)
    tuner = info.get("tuner") if isinstance(info.get("tuner"), dict) else {}
    metric = info.get("metric") or tuner.get("metric") or VAL_ACCURACY
    direction = str(info.get("direction") or tuner.get("direction") or "maximize").lower()
    if direction not in ("maximize", "minimize"):
        raise KoptError(f"{path}: direction {direction!r}; allowed: maximize, minimize")
    return str(metric), direction


def study_members(study_dir: str | Path, top: int) -> tuple[list[Member], dict, dict]:
    """The ``top`` best completed trials of a `kopt tune` study dir by validation, best first, their
    test-set probabilities predicted here by their saved models (a trial never scores the test set:
    this is the one time it is scored); with the test set's ``y_true`` and ``test_idx``."""
    study_dir = Path(study_dir)
    trials_dir = study_dir / "trials"
    if not trials_dir.is_dir():
        raise KoptError(f"--study {study_dir}: no trials/ folder (not a kopt tune study dir)")
    metric, direction = study_objective(study_dir)
    ranked = []
    for trial in sorted(p for p in trials_dir.iterdir() if p.is_dir()):
        try:
            run = load_run(trial)
        except KoptError:
            continue  # pruned, failed or running trials are not members
        value = _score((run.summary.metrics or {}).get(metric))
        if value is not None:
            ranked.append((value, trial.name, run))
    if len(ranked) < 2:
        raise KoptError(
            f"--study {study_dir}: {len(ranked)} completed trial(s) with metrics.{metric}; an ensemble needs >= 2"
        )
    keep = _study_info(study_dir).get("keep_models")
    if isinstance(keep, int) and not isinstance(keep, bool) and top > keep and len(ranked) > keep:
        raise KoptError(
            f"--top {top}: the study keeps the models of its {keep} best trials only (tuner.keep_models={keep}); "
            f"give --top {keep} or less, or tune with a larger tuner.keep_models"
        )
    ranked.sort(key=lambda item: (-item[0] if direction == "maximize" else item[0], len(item[1]), item[1]))
    chosen = ranked[:top]
    runs = [run for _, _, run in chosen]
    probs, truth = score_test_set(runs)
    members = [
        Member(f"trial{name}", run, None, p, _score((run.summary.metrics or {}).get(VAL_ACCURACY)))
        for (_, name, run), p in zip(chosen, probs)
    ]
    info = {
        "study": str(study_dir),
        "metric": metric,
        "direction": direction,
        "top": top,
        "completed_trials": len(ranked),
        "values": [value for value, _, _ in chosen],
    }
    return members, info, truth


def _study_info(study_dir: Path) -> dict:
    path = study_dir / SUMMARY
    return read_json_object(path, root=study_dir) if path.exists() else {}


def score_test_set(runs: list[RunDir]) -> tuple[list[np.ndarray], dict]:
    """Each run's test-set class probabilities from its saved model(s) (a k-fold run's fold models
    averaged), on the test set its splits.npz holds; and ``{"y_true", "test_idx"}``. The runs must
    share the dataset and the test set. TensorFlow loads here."""
    from omegaconf import OmegaConf

    from kopt.data.datasets import load_dataset
    from kopt.predict.model import load_member, predict
    from kopt.predict.source import model_files

    first = runs[0]
    test = first.splits["test"]
    for run in runs[1:]:
        problem = same_dataset(first, run)
        if problem is None and not np.array_equal(run.splits["test"], test):
            problem = f"different test sets ({len(test)} vs {len(run.splits['test'])} examples, indices differ)"
        if problem:
            raise KoptError(f"members are not on the same test set: {problem}; {first.path} vs {run.path}")
    files = [model_files(run) for run in runs]  # (every model there before TensorFlow loads)
    from kopt.runtime import setup_tensorflow

    setup_tensorflow(int(first.summary.seed or 0), True, 0, 0, False)
    seed = int(first.summary.seed or 0)
    data = load_dataset(OmegaConf.create(first.config.get("dataset") or {}), seed)
    x = data.x[test]  # (a table's missing numbers stay NaN: each saved model fills them with its own values)
    probs = [
        np.mean([predict(load_member(f, f"m{i}_{f.stem}"), x) for f in run_files], axis=0)
        for i, run_files in enumerate(files)
    ]
    return probs, {"y_true": np.asarray(data.y[test]), "test_idx": np.asarray(test)}


def check_same_test_set(members: list[Member], scored: bool = False) -> None:
    """``scored``: the probabilities were predicted here, on one test set (:func:`score_test_set`)."""
    first = members[0]
    for m in members[1:]:
        if m.run is first.run:
            continue
        problem = same_dataset(first.run, m.run) or (None if scored else same_test_set(first.run, m.run))
        if problem:
            raise KoptError(f"members are not on the same test set: {problem}; {first.run.path} vs {m.run.path}")
        if m.probs.shape != first.probs.shape:
            raise KoptError(f"members disagree on the number of outputs: {first.probs.shape} vs {m.probs.shape}")
    seen: set[tuple[str, int | None]] = set()
    for m in members:
        key = (str(m.run.path.resolve()), m.fold)
        if key in seen:
            raise KoptError(f"{m.run.path}: given twice; each member counts once")
        seen.add(key)


def task_of(members: list[Member]) -> str:
    """The members' task (summary.json's data.task); they must share it."""
    tasks = {m.run.task for m in members}
    if len(tasks) > 1:
        raise KoptError(f"members are of different tasks ({', '.join(sorted(tasks))}); an ensemble needs one")
    return tasks.pop()


def weights_for(members: list[Member], method: str) -> np.ndarray:
    if method != "weighted":
        return np.full(len(members), 1.0 / len(members))
    scores = [m.val_accuracy for m in members]
    if any(s is None for s in scores):
        missing = next(m.name for m in members if m.val_accuracy is None)
        raise KoptError(f"--method weighted: member {missing} has no val_accuracy")
    w = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    return w / w.sum() if w.sum() > 0 else np.full(len(members), 1.0 / len(members))


def clipped(probs: np.ndarray, task: str = "multiclass") -> np.ndarray:
    """Probabilities clipped as Keras's cross-entropy clips them (binary: both ends); values as they are."""
    if task == "regression":
        return probs.astype(np.float64)
    return np.clip(probs.astype(np.float64), EPSILON, 1.0 - EPSILON if task == "multilabel" else 1.0)


def cross_entropy(probs: np.ndarray, y: np.ndarray, task: str = "multiclass") -> float:
    """The run's loss: categorical cross-entropy; for multi-label the binary one, averaged over labels."""
    if task == "multilabel":
        return float(np.mean(-(y * np.log(probs) + (1 - y) * np.log(1 - probs))))
    return float(np.mean(-np.log(probs[np.arange(len(y)), y])))


def combine(members: list[Member], method: str, weights: np.ndarray, task: str = "multiclass"):
    """(ensemble probabilities or vote shares (n, classes), predicted class (n,)); multi-label: per label,
    the prediction a 0/1 matrix; regression: the (weighted) mean value (n, 1) twice."""
    stacked = np.stack([clipped(m.probs, task) for m in members])  # (M, n, C)
    mean = np.tensordot(weights, stacked, axes=1)
    if task == "regression":
        return mean, mean
    if task == "multilabel":
        if method != "vote":
            return mean, mean > 0.5
        votes = np.tensordot(weights, (stacked > 0.5).astype(np.float64), axes=1)  # each label's share of yes
        tied = np.isclose(votes, 0.5)
        return votes, np.where(tied, mean > 0.5, votes > 0.5)  # ties: the mean probability
    if method != "vote":
        return mean, np.argmax(mean, axis=1)
    votes = np.zeros_like(mean)
    for w, p in zip(weights, stacked):
        votes[np.arange(p.shape[0]), np.argmax(p, axis=1)] += w
    top = votes == votes.max(axis=1, keepdims=True)
    return votes, np.argmax(np.where(top, mean, -1.0), axis=1)  # ties: the class with the higher mean probability


def scores_of(probs: np.ndarray, pred: np.ndarray, y: np.ndarray, task: str, method: str = "mean") -> dict:
    """The test scores of one member or of the ensemble: accuracy and loss, or a regression's mae and rmse."""
    if task == "regression":
        err = probs[:, 0] - y
        return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(np.square(err))))}
    loss = None if method == "vote" else cross_entropy(probs, y, task)
    return {"accuracy": float(np.mean(pred == y)), "loss": loss}


SCORES = {"regression": ("mae", "rmse")}  # the others: accuracy, loss
HIGHER_IS_BETTER = {"accuracy": True, "loss": False, "mae": False, "rmse": False}


def evaluate(members: list[Member], method: str = "mean", truth: dict | None = None) -> dict:
    """Ensemble and member scores on the shared test set; the arrays for predictions.npz.
    ``truth``: the test set's ``y_true`` and ``test_idx`` where the members' probabilities were
    predicted here (a study's trials save none), else each run's predictions.npz has them.
    Regression members are predicted values, averaged (``mean``: no vote, no weights from an
    accuracy); multi-label members one probability per label, averaged (or voted) per label."""
    if method not in METHODS:
        raise KoptError(f"--method {method}: unknown; allowed: {', '.join(METHODS)}")
    if len(members) < 2:
        raise KoptError("an ensemble needs at least 2 members")
    task = task_of(members)
    if task == "regression" and method != "mean":
        raise KoptError(
            f"--method {method}: a regression ensemble averages the members' predicted values "
            "(no classes to vote on, no val_accuracy to weigh by); allowed: mean"
        )
    check_same_test_set(members, scored=truth is not None)
    truth = truth if truth is not None else members[0].run.predictions
    y = truth["y_true"]
    weights = weights_for(members, method)
    probs, pred = combine(members, method, weights, task)
    names = SCORES.get(task, ("accuracy", "loss"))
    rows = []
    for m, w in zip(members, weights):
        p = clipped(m.probs, task)
        _, member_pred = combine([m], "mean", np.ones(1), task)
        rows.append({**m.describe(), "weight": float(w), **scores_of(p, member_pred, y, task)})
    ensemble = scores_of(probs, pred, y, task, method)
    mean_member = {k: float(np.mean([r[k] for r in rows])) for k in names}
    first = names[0]  # accuracy, or a regression's mae
    best = (max if HIGHER_IS_BETTER[first] else min)(rows, key=lambda r: r[first])
    # ensemble minus mean member: accuracy up, loss, mae and rmse down are gains
    gain = {k: None if ensemble[k] is None else ensemble[k] - mean_member[k] for k in names}
    result = {
        "task": task,
        "method": method,
        "n_members": len(members),
        "n_test": int(len(y)),
        "scores": list(names),
        "ensemble": ensemble,
        "mean_member": mean_member,
        "best_member": {"name": best["name"], **{k: best[k] for k in names}},
        "gain": {**gain, f"{first}_over_best": ensemble[first] - best[first]},
        "members": rows,
    }
    arrays = {
        "y_true": y,
        "probs": probs.astype("float32"),
        "member_probs": np.stack([m.probs for m in members]),
        "test_idx": truth["test_idx"],
        "weights": weights,
    }
    return {"result": result, "arrays": arrays}
