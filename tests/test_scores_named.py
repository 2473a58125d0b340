"""A k-fold run has two test scores: the mean of its fold models' scores, and the score of the
folds averaged into one model (their class probabilities averaged: what kopt predict and kopt
export use). Both are recorded and every place that shows one says which it is."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from conftest import TINY, only_run_dir, run_kopt

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.xdist_group("scores_named")

KFOLD = [*TINY, "dataset.size=160", "split=kfold", "split.k=2", "trainer.epochs=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("scores")
    proc = run_kopt("train", *KFOLD, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run_dir(cwd)
    with np.load(run / "predictions.npz") as z:
        probs, y = z["probs"], z["y_true"]
    summary = json.loads((run / "summary.json").read_text())
    return {"cwd": cwd, "run": run, "proc": proc, "summary": summary, "probs": probs, "y": y}


def averaged_accuracy(trained) -> float:
    return float((trained["probs"].argmax(axis=1) == trained["y"]).mean())


def test_summary_json_records_the_folds_averaged_test_score(trained):
    summary, probs, y = trained["summary"], trained["probs"], trained["y"]
    averaged = summary["folds_averaged"]
    assert averaged["models"] == 2
    assert averaged["test_accuracy"] == pytest.approx(averaged_accuracy(trained), abs=1e-9)
    p = np.clip(probs[np.arange(len(y)), y].astype("float64"), 1e-7, 1.0)
    assert averaged["test_loss"] == pytest.approx(float(-np.log(p).mean()), rel=1e-5)
    folds = [f["test_accuracy"] for f in summary["folds"]]
    assert summary["metrics"]["test_accuracy"] == pytest.approx(float(np.mean(folds)))


def test_predict_on_the_test_rows_gives_the_folds_averaged_score(trained, tmp_path):
    from kopt.compose import compose_and_validate
    from kopt.data.datasets import load_dataset
    from kopt.validate import validate_train

    cfg = compose_and_validate(KFOLD, "config", validators=[validate_train])[1][0]
    data = load_dataset(cfg.dataset, int(cfg.seed))
    with np.load(trained["run"] / "predictions.npz") as z:
        test_idx = z["test_idx"]
    np.savez(tmp_path / "test.npz", x_test=data.x[test_idx], y_test=data.y[test_idx])
    proc = run_kopt("predict", str(trained["run"]), "test.npz", "--out", "p.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = float(re.search(r"accuracy ([0-9.]+)", proc.stdout).group(1))
    assert said == pytest.approx(trained["summary"]["folds_averaged"]["test_accuracy"], abs=5e-5)


def test_the_train_table_names_both_test_scores(trained):
    m, averaged = trained["summary"]["metrics"], trained["summary"]["folds_averaged"]
    lines = trained["proc"].stdout.splitlines()
    mean_row = [line for line in lines if "mean of 2 fold models" in line]
    avg_row = [line for line in lines if "the 2 folds averaged" in line]
    assert len(mean_row) == 1 and f"{m['test_accuracy']:.4f} ± {m['test_accuracy_std']:.4f}" in mean_row[0]
    assert len(avg_row) == 1 and f"{averaged['test_accuracy']:.4f}" in avg_row[0]
    assert f"{averaged['test_loss']:.4f}" in avg_row[0]


def test_report_names_both_test_scores(trained):
    m, averaged = trained["summary"]["metrics"], trained["summary"]["folds_averaged"]
    proc = run_kopt("report", "runs", "--csv", "r.csv", "--markdown", "r.md", cwd=trained["cwd"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "test_acc avg" in out and f"{averaged['test_accuracy']:.4f}" in out
    assert "mean ± std of a run's fold models" in out and "the fold models averaged into one" in out
    row = next(csv.DictReader(open(trained["cwd"] / "r.csv")))
    assert float(row["test_accuracy"]) == pytest.approx(m["test_accuracy"])
    assert float(row["test_accuracy_folds_averaged"]) == pytest.approx(averaged["test_accuracy"])
    md = (trained["cwd"] / "r.md").read_text()
    assert "test_acc avg" in md and f"{averaged['test_accuracy']:.4f}" in md


def test_the_model_card_gives_the_score_of_the_model_it_describes(trained, tmp_path):
    m, averaged = trained["summary"]["metrics"], trained["summary"]["folds_averaged"]
    proc = run_kopt("export", str(trained["run"]), "--format", "keras", "--out", "exp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    card = (tmp_path / "exp" / "model_card.md").read_text()
    assert f"| test_accuracy (the 2 folds averaged: this model) | {averaged['test_accuracy']:.4f} |" in card
    assert f"| test_loss (the 2 folds averaged: this model) | {averaged['test_loss']:.4f} |" in card
    assert "| metric | mean of 2 fold models ± std |" in card
    assert f"| test_accuracy | {m['test_accuracy']:.4f} ± {m['test_accuracy_std']:.4f} |" in card


def test_ab_names_both_test_scores(tmp_path):
    proc = run_kopt("ab", "a=model.width=8", "b=model.width=16", *KFOLD, "--out", "ab", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "ab" / "comparison.json").read_text())
    sa, sb = (json.loads((tmp_path / "ab" / s / "summary.json").read_text()) for s in ("a", "b"))
    ta = result["test_accuracy"]
    assert ta["what"] == "the 2 folds averaged"
    assert ta["a"] == pytest.approx(sa["folds_averaged"]["test_accuracy"])
    assert ta["b"] == pytest.approx(sb["folds_averaged"]["test_accuracy"])
    means = result["test_accuracy_mean_of_folds"]
    assert means["what"] == "mean of 2 fold models"
    assert means["a"] == pytest.approx(sa["metrics"]["test_accuracy"])
    assert means["b"] == pytest.approx(sb["metrics"]["test_accuracy"])
    lines = proc.stdout.splitlines()
    averaged_line = next(line for line in lines if line.startswith("test accuracy (the 2 folds averaged): "))
    assert f"A {ta['a']:.4f}  B {ta['b']:.4f}" in averaged_line
    mean_line = next(line for line in lines if line.startswith("test accuracy (mean of 2 fold models): "))
    assert f"A {means['a']:.4f}  B {means['b']:.4f}" in mean_line


def test_report_groups_name_both_test_scores(trained):
    averaged = trained["summary"]["folds_averaged"]
    proc = run_kopt("report", "runs", "--group-by", "model", "--csv", "g.csv", cwd=trained["cwd"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grouped = proc.stdout[proc.stdout.index("grouped by model") :]
    assert "test_acc avg" in grouped and f"{averaged['test_accuracy']:.4f}" in grouped
    assert "the fold models averaged into one" in grouped
    row = next(csv.DictReader(open(trained["cwd"] / "g.csv")))
    assert float(row["test_accuracy_folds_averaged_mean"]) == pytest.approx(averaged["test_accuracy"])


def test_a_regression_runs_model_card_gives_its_own_scores_and_says_it_predicts_values(tmp_path):
    """A k-fold regression: the card's averaged rows are the run's folds_averaged mae/rmse/loss (not
    "-" for an accuracy it never had), its fold rows include val_mae and test_rmse, and it says the
    model outputs a value, not class probabilities."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 5)).astype("float32")
    np.savez(tmp_path / "values.npz", x_train=x, y_train=(2 * x[:, 0] + rng.normal(size=120)).astype("float32"))
    proc = run_kopt(
        "train", "dataset=npz", "dataset.path=values.npz", *TINY[-3:], "trainer.epochs=1", "split=kfold",
        "split.k=2", "trainer.monitor=val_mae", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run_dir(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    m, averaged = summary["metrics"], summary["folds_averaged"]
    proc = run_kopt("export", str(run), "--format", "keras", "--out", "exp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    card = (tmp_path / "exp" / "model_card.md").read_text()
    for key in ("test_mae", "test_rmse", "test_loss"):
        assert f"| {key} (the 2 folds averaged: this model) | {averaged[key]:.4f} |" in card
    assert f"| val_mae | {m['val_mae']:.4f} ± {m['val_mae_std']:.4f} |" in card
    assert f"| test_rmse | {m['test_rmse']:.4f} ± {m['test_rmse_std']:.4f} |" in card
    assert "accuracy" not in card and "probabilit" not in card.split("## Config")[0]
    assert "output: one predicted value per example" in card and "- target: a value per example" in card
