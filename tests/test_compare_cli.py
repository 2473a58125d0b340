"""`kopt compare` and `kopt ensemble` as a user runs them, on two tiny finished 5-fold runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY, assert_clean_error, kopt_env, only_run_dir, read_summary, run_kopt

FOLDS = ["split=kfold", "split.k=5"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two completed 5-fold runs on the same folds (same data, split and seed; different widths)."""
    root = tmp_path_factory.mktemp("runs")
    dirs = []
    for width in ("16", "32"):
        cwd = root / f"w{width}"
        cwd.mkdir()
        proc = run_kopt("train", *TINY, *FOLDS, f"model.width={width}", cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        (run_dir,) = (cwd / "runs" / "train").iterdir()
        dirs.append(run_dir)
    return dirs[0], dirs[1]


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def rewrite_npz(path: Path, change) -> None:
    with np.load(path) as z:
        arrays = {k: z[k].copy() for k in z.files}
    change(arrays)
    np.savez_compressed(path, **arrays)


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# --- compare ---------------------------------------------------------------------------------


def test_compare_writes_every_applicable_test(two_runs, tmp_path):
    a, b = two_runs
    proc = run_kopt("compare", str(a), str(b), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((only_run_dir(tmp_path, "compare") / "comparison.json").read_text())
    assert out["metric"] == "val_accuracy"
    assert out["scores_a"] == [f["val_accuracy"] for f in read_summary(a)["folds"]]
    assert out["scores_b"] == [f["val_accuracy"] for f in read_summary(b)["folds"]]
    names = [t["name"] for t in out["tests"]]
    assert names == ["paired_t", "corrected_resampled_t", "mcnemar_exact", "paired_bootstrap"]
    # 5 folds cannot reach p < 0.05 with Wilcoxon; kfold has no 5x2cv tests: both reported as skipped
    assert {s["name"] for s in out["skipped"]} == {"wilcoxon", "cv5x2_t", "cv5x2_f"}
    for t in out["tests"]:
        assert {"name", "statistic", "p_value", "df", "verdict"} <= set(t)
        assert t["p_value"] is None or 0.0 <= t["p_value"] <= 1.0
    # McNemar's discordant counts are those of the saved test-set predictions
    with np.load(a / "predictions.npz") as pa, np.load(b / "predictions.npz") as pb:
        ca = pa["probs"].argmax(1) == pa["y_true"]
        cb = pb["probs"].argmax(1) == pb["y_true"]
    mcnemar = out["tests"][2]
    assert (mcnemar["a_only_correct"], mcnemar["b_only_correct"]) == (int((ca & ~cb).sum()), int((~ca & cb).sum()))
    assert out["test_accuracy"]["difference"] == pytest.approx(ca.mean() - cb.mean())
    assert out["primary_test"] == "corrected_resampled_t"
    assert "corrected_resampled_t" in proc.stdout and "mcnemar_exact" in proc.stdout


def test_compare_metric_and_out(two_runs, tmp_path):
    a, b = two_runs
    proc = run_kopt("compare", str(a), str(b), "--metric", "val_loss", "--alpha", "0.1", "--out", "cmp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert out["metric"] == "val_loss" and out["higher_is_better"] is False and out["alpha"] == 0.1
    assert out["scores_a"] == [f["val_loss"] for f in read_summary(a)["folds"]]
    assert not (tmp_path / "runs").exists()


def test_compare_refuses_different_folds(two_runs, tmp_path):
    a, b = two_runs
    moved = copy_run(b, tmp_path / "moved")

    def swap_one_example(z):  # same sizes, one example moved between train and validation of fold 0
        z["train_0"][0], z["val_0"][0] = z["val_0"][0], z["train_0"][0]

    rewrite_npz(moved / "splits.npz", swap_one_example)
    proc = run_kopt("compare", str(a), str(moved), cwd=tmp_path)
    assert_clean_error(proc, "not comparable", "fold assignment", "train_0")
    assert not (tmp_path / "runs").exists()


def test_compare_refuses_different_seed_split_and_dataset(two_runs, tmp_path):
    a, b = two_runs
    seeded = copy_run(b, tmp_path / "seeded")
    edit_json(seeded / "summary.json", lambda s: s.update(seed=1))
    assert_clean_error(run_kopt("compare", str(a), str(seeded), cwd=tmp_path), "different seed")

    for key, value, needle in (("split", {"k": 3}, "split strategy"), ("dataset", {"noise": 2.0}, "different dataset")):
        other = copy_run(b, tmp_path / key)
        cfg_path = other / ".hydra" / "config.yaml"
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg[key].update(value)
        cfg_path.write_text(yaml.safe_dump(cfg))
        assert_clean_error(run_kopt("compare", str(a), str(other), cwd=tmp_path), needle)
    assert not (tmp_path / "runs").exists()


def test_compare_refuses_unfinished_or_missing_runs(two_runs, tmp_path):
    a, b = two_runs
    failed = copy_run(b, tmp_path / "failed")
    edit_json(failed / "summary.json", lambda s: s.update(status="failed"))
    assert_clean_error(run_kopt("compare", str(a), str(failed), cwd=tmp_path), "status is 'failed'")
    assert_clean_error(run_kopt("compare", str(a), str(tmp_path / "nope"), cwd=tmp_path), "no such run dir")
    broken = copy_run(b, tmp_path / "broken")
    (broken / "predictions.npz").write_bytes(b"not a zip")
    assert_clean_error(run_kopt("compare", str(a), str(broken), cwd=tmp_path), "predictions.npz", "unreadable")
    assert_clean_error(run_kopt("compare", str(a), str(b), "--metric", "f1", cwd=tmp_path), "--metric", "val_accuracy")
    assert_clean_error(run_kopt("compare", str(a), str(b), "--alpha", "2", cwd=tmp_path), "alpha")
    assert not (tmp_path / "runs").exists()


# --- ensemble --------------------------------------------------------------------------------


def test_ensemble_of_the_folds_of_a_kfold_run(two_runs, tmp_path):
    a, _ = two_runs
    proc = run_kopt("ensemble", str(a), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out_dir = only_run_dir(tmp_path, "ensemble")
    report = json.loads((out_dir / "ensemble.json").read_text())
    with np.load(a / "predictions.npz") as z:
        y, fold_probs, run_probs = z["y_true"], z["fold_probs"], z["probs"]
    assert report["n_members"] == 5 and report["method"] == "mean"
    member_acc = [float(np.mean(p.argmax(1) == y)) for p in fold_probs]
    assert [m["accuracy"] for m in report["members"]] == pytest.approx(member_acc)
    assert report["mean_member"]["accuracy"] == pytest.approx(np.mean(member_acc))
    # the mean of the fold models is what `kopt train` saved as the run's own prediction
    with np.load(out_dir / "predictions.npz") as z:
        assert np.allclose(z["probs"], run_probs, atol=1e-6)
        assert np.array_equal(z["test_idx"], np.load(a / "predictions.npz")["test_idx"])
    ens = report["ensemble"]
    assert ens["accuracy"] == pytest.approx(np.mean(run_probs.argmax(1) == y))
    # Jensen: -log is convex, so the mean's cross-entropy never exceeds the members' mean
    assert ens["loss"] <= report["mean_member"]["loss"] + 1e-12
    assert report["gain"]["accuracy"] == pytest.approx(ens["accuracy"] - report["mean_member"]["accuracy"])
    assert "ensemble" in proc.stdout and "mean member" in proc.stdout and "fold4" in proc.stdout


@pytest.mark.parametrize("method", ["vote", "weighted"])
def test_ensemble_methods_over_several_runs(two_runs, tmp_path, method):
    a, b = two_runs
    proc = run_kopt("ensemble", str(a), str(b), "--method", method, "--out", "ens", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
    assert report["n_members"] == 2 and report["method"] == method
    weights = [m["weight"] for m in report["members"]]
    assert sum(weights) == pytest.approx(1.0)
    if method == "weighted":
        vals = [read_summary(r)["metrics"]["val_accuracy"] for r in (a, b)]
        assert weights == pytest.approx([v / sum(vals) for v in vals])
    else:
        assert report["ensemble"]["loss"] is None  # a vote has no probabilities to score


def test_ensemble_refuses_members_on_different_test_sets(two_runs, tmp_path):
    a, b = two_runs
    shifted = copy_run(b, tmp_path / "shifted")

    def other_test_example(z):
        z["test_idx"][0] = z["test_idx"][0] + 1 if z["test_idx"][0] + 1 not in z["test_idx"] else z["test_idx"][0] - 1

    rewrite_npz(shifted / "predictions.npz", other_test_example)
    assert_clean_error(run_kopt("ensemble", str(a), str(shifted), cwd=tmp_path), "same test set")
    assert_clean_error(run_kopt("ensemble", cwd=tmp_path), "run dir(s) or --study")
    assert not (tmp_path / "runs").exists()


def test_ensemble_of_a_studys_top_trials(two_runs, tmp_path):
    """A study dir as `kopt tune` writes it: trials/<number>/ train run dirs and summary.json."""
    a, b = two_runs
    study = tmp_path / "runs" / "tune" / "s"
    losses = {"0": 0.9, "1": 0.5, "2": 0.7, "3": 0.1}
    for number, src in (("0", a), ("1", b), ("2", a), ("3", b)):
        trial = copy_run(src, study / "trials" / number)
        edit_json(trial / "summary.json", lambda s, v=losses[number]: s["metrics"].update(val_loss=v))
    edit_json(study / "trials" / "3" / "summary.json", lambda s: s.update(status="pruned"))
    (study / "summary.json").write_text(json.dumps({"metric": "val_loss", "direction": "minimize", "best_trial": 1}))
    proc = run_kopt("ensemble", "--study", str(study), "--top", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((only_run_dir(tmp_path, "ensemble") / "ensemble.json").read_text())
    assert [m["name"] for m in report["members"]] == ["trial1", "trial2"]  # lowest val_loss first, pruned skipped
    assert report["sources"]["study"]["values"] == [0.5, 0.7]


def as_holdout(src: Path, dst: Path) -> Path:
    """A one-model (holdout-like) run made of fold 0 of a k-fold run."""
    run = copy_run(src, dst)
    edit_json(run / "summary.json", lambda s: s.update(folds=s["folds"][:1]))
    rewrite_npz(run / "splits.npz", lambda z: [z.pop(k) for k in list(z) if k[-1:].isdigit() and not k.endswith("_0")])
    rewrite_npz(run / "predictions.npz", lambda z: z.update(fold_probs=z["fold_probs"][:1], probs=z["fold_probs"][0]))
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    cfg["split"] = {"name": "holdout", "test_size": 0.2, "val_size": 0.2, "stratify": True}
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run


def test_compare_single_model_runs_uses_the_test_set(two_runs, tmp_path):
    a = as_holdout(two_runs[0], tmp_path / "a")
    b = as_holdout(two_runs[1], tmp_path / "b")
    proc = run_kopt("compare", str(a), str(b), "--out", "cmp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert [t["name"] for t in out["tests"]] == ["mcnemar_exact", "paired_bootstrap"]
    assert {s["name"] for s in out["skipped"]} == {"paired_t", "corrected_resampled_t", "wilcoxon"}
    assert out["primary_test"] == "mcnemar_exact" and out["mean_difference"]["ci_low"] is None
    # one model each: nothing to ensemble inside a run
    assert_clean_error(run_kopt("ensemble", str(a), cwd=tmp_path), "one model only")


def test_compare_and_ensemble_never_import_tensorflow(two_runs, tmp_path):
    a, b = two_runs
    code = (
        "import sys, kopt.cli\n"
        f"kopt.cli.main(['compare', {str(a)!r}, {str(b)!r}])\n"
        f"kopt.cli.main(['ensemble', {str(a)!r}])\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=kopt_env(), text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr


# --- protocol (issue 16.1, 16.2) ---------------------------------------------------------------


def test_compare_says_which_protocol_scored_the_folds_and_warns_on_selection(two_runs, tmp_path):
    from kopt.comparison import compare_runs
    from kopt.rundir import load_run

    a, b = two_runs  # kopt train's default keeps each fold's best epoch on its validation part
    proc = run_kopt("compare", str(a), str(b), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((only_run_dir(tmp_path, "compare") / "comparison.json").read_text())
    assert (out["protocol"]["a"], out["protocol"]["b"]) == ("best_epoch", "best_epoch")
    assert out["protocol"]["selected_on_scored_folds"] is True
    assert "protocol A best_epoch, B best_epoch" in proc.stdout
    assert "warning:" in proc.stdout and "selected on the scored folds" in " ".join(proc.stdout.split())

    old_a, old_b = copy_run(a, tmp_path / "old_a"), copy_run(b, tmp_path / "old_b")
    for run in (old_a, old_b):  # written before the protocol was recorded
        edit_json(run / "summary.json", lambda s: s.pop("protocol", None))
    scoring = compare_runs(load_run(old_a), load_run(old_b))["protocol"]
    assert scoring["a"] == scoring["b"] == "unknown, probably best-epoch selection"
    assert scoring["selected_on_scored_folds"] is True and scoring["warnings"]

    for run in (old_a, old_b):
        edit_json(run / "summary.json", lambda s: s.update(protocol="fixed"))
    scoring = compare_runs(load_run(old_a), load_run(old_b))["protocol"]
    assert (scoring["a"], scoring["selected_on_scored_folds"], scoring["warnings"]) == ("fixed", False, [])
    # the test set chose no epoch, whatever the protocol
    assert compare_runs(load_run(a), load_run(b), "test_accuracy")["protocol"]["selected_on_scored_folds"] is False


def test_fold_scores_on_the_shared_test_set_are_not_judged_by_the_resampling_tests(two_runs):
    """--metric test_accuracy scores every fold on the same test set: Nadeau-Bengio's n_test/n_train
    term (and 5x2cv's variance) assumes resampled test sets, so they are skipped, and the verdict
    follows McNemar on that test set."""
    from kopt.comparison import compare_runs
    from kopt.rundir import load_run

    a, b = two_runs
    result = compare_runs(load_run(a), load_run(b), "test_accuracy")
    assert [t["name"] for t in result["tests"]] == ["paired_t", "mcnemar_exact", "paired_bootstrap"]
    skipped = {s["name"]: s["reason"] for s in result["skipped"]}
    assert "same test set" in skipped["corrected_resampled_t"] and "resampled test sets" in skipped["cv5x2_f"]
    assert result["primary_test"] == "mcnemar_exact"
