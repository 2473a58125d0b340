"""`kopt ab`, `kopt compare` and `kopt ensemble` on regression and multi-label runs: per-example
tests that fit the task (absolute errors; per-example Hamming errors), checked against scipy on
the errors recomputed from predictions.npz, and ensembles equal to the mean of their members."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_clean_error, read_summary, run_kopt
from scipy import stats

N = 120
SHARED = [
    "dataset=npz",
    "dataset.path=data.npz",
    "model=mlp",
    "model.depth=1",
    "split=kfold",
    "split.k=2",
    "trainer.epochs=2",
    "trainer.batch_size=16",
]


def write_data(path, task: str) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, 6)).astype("float32")
    if task == "regression":  # float labels: auto reads a regression
        y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.5, -1.0]) + rng.normal(0, 0.3, N)).astype("float32")
    else:  # a 0/1 matrix: auto reads a multi-label task
        y = (x[:, :3] + rng.normal(0, 0.5, (N, 3)) > 0).astype("int64")
    np.savez(path, x_train=x, y_train=y)


def arrays(run) -> dict:
    with np.load(run / "predictions.npz") as z:
        return {k: z[k] for k in z.files}


def per_example(run, task: str) -> np.ndarray:
    """What the test-set tests pair: |y - y_hat| (regression), the share of labels wrong at 0.5 (multi-label)."""
    p = arrays(run)
    if task == "regression":
        return np.abs(p["probs"][:, 0].astype("float64") - p["y_true"])
    return ((p["probs"] > 0.5) != (p["y_true"] > 0.5)).mean(axis=1)


def bootstrap_p(d: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """The paired bootstrap kopt documents: scipy's percentile bootstrap of mean(d), p inverting it."""
    res = stats.bootstrap(
        (d,), np.mean, n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed), vectorized=True
    )
    dist = res.bootstrap_distribution
    k = min(int(np.sum(dist <= 0)), int(np.sum(dist >= 0)))
    return min(1.0, 2 * (k + 1) / (resamples + 1)), res.confidence_interval.low, res.confidence_interval.high


def check_test_set(result: dict, a, b, task: str) -> None:
    ea, eb = per_example(a, task), per_example(b, task)
    wil, boot = (
        ("wilcoxon_abs_error", "paired_bootstrap_mae")
        if task == "regression"
        else (
            "wilcoxon_hamming",
            "paired_bootstrap_hamming",
        )
    )
    tests = {t["name"]: t for t in result["tests"]}
    assert [t["name"] for t in result["tests"] if t["data"] == "test set"] == [wil, boot]
    assert "mcnemar_exact" not in tests
    expected = stats.wilcoxon(ea - eb)
    assert tests[wil]["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-9)
    assert tests[wil]["statistic"] == pytest.approx(float(expected.statistic))
    p, low, high = bootstrap_p(ea - eb, 2000, 3)
    assert tests[boot]["p_value"] == pytest.approx(p)
    assert (tests[boot]["ci_low"], tests[boot]["ci_high"]) == pytest.approx((low, high))
    assert tests[boot]["mean_difference"] == pytest.approx(float(ea.mean() - eb.mean()))
    score = result["test_set"]
    assert score["score"] == ("mae" if task == "regression" else "hamming_loss")
    assert score["higher_is_better"] is False
    assert (score["a"], score["b"]) == pytest.approx((float(ea.mean()), float(eb.mean())))
    assert score["tests"] == [wil, boot]
    for t in (tests[wil], tests[boot]):  # lower errors win: the verdict names the side with the smaller ones
        if t["p_value"] < result["alpha"]:
            worse = "a" if (t["name"] == boot and ea.mean() > eb.mean()) else None
            if t["name"] == wil:
                ranks = stats.rankdata(np.abs((ea - eb)[ea != eb]))
                worse = "a" if ranks[(ea - eb)[ea != eb] > 0].sum() > ranks[(ea - eb)[ea != eb] < 0].sum() else "b"
            assert t["better"] == ("b" if worse == "a" else "a"), t
        else:
            assert t["verdict"] == "no significant difference" and t["better"] is None


def check_folds(result: dict, a, b, metric: str) -> None:
    assert result["metric"] == metric and result["higher_is_better"] is (metric == "val_accuracy")
    assert result["scores_a"] == [f[metric] for f in read_summary(a)["folds"]]
    assert result["scores_b"] == [f[metric] for f in read_summary(b)["folds"]]
    assert [t["name"] for t in result["tests"] if t["data"] == "folds"] == ["paired_t", "corrected_resampled_t"]
    assert result["primary_test"] == "corrected_resampled_t"


def check_ensemble(out, members: list[np.ndarray], y: np.ndarray, task: str) -> dict:
    saved = arrays(out)
    mean = np.mean(np.stack(members), axis=0)
    assert saved["probs"] == pytest.approx(mean, abs=1e-6)
    assert np.array_equal(saved["y_true"], y)
    result = json.loads((out / "ensemble.json").read_text())
    assert result["task"] == task
    if task == "regression":
        err = mean[:, 0] - y
        assert result["ensemble"]["mae"] == pytest.approx(float(np.abs(err).mean()), rel=1e-5)
        assert result["ensemble"]["rmse"] == pytest.approx(float(np.sqrt(np.square(err).mean())), rel=1e-5)
        assert "accuracy" not in result["ensemble"]
        member_mae = [float(np.abs(m[:, 0] - y).mean()) for m in members]
        assert [r["mae"] for r in result["members"]] == pytest.approx(member_mae, rel=1e-5)
        assert result["gain"]["mae"] == pytest.approx(result["ensemble"]["mae"] - np.mean(member_mae), rel=1e-4)
        for score in ("mae", "rmse"):  # convex in the prediction: the mean never loses to the mean member
            assert result["ensemble"][score] <= result["mean_member"][score] + 1e-9
    else:
        assert result["ensemble"]["accuracy"] == pytest.approx(float(((mean > 0.5) == y).mean()))
        p = np.clip(mean, 1e-7, 1 - 1e-7)
        bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
        assert result["ensemble"]["loss"] == pytest.approx(float(bce), rel=1e-4)
        assert result["ensemble"]["loss"] <= result["mean_member"]["loss"] + 1e-9  # Jensen, per label
    return result


MONITOR = {"regression": "val_mae", "multilabel": "val_loss"}


# One xdist group per task (not one for the module): each worker trains the runs of one task.
@pytest.fixture(
    scope="module",
    params=[pytest.param(task, marks=pytest.mark.xdist_group(f"compare_tasks_{task}")) for task in MONITOR],
)
def two_runs(request, tmp_path_factory):
    """(task, A, B): two completed 2-fold runs of one task on the same folds (widths 4 and 16)."""
    task = request.param
    root = tmp_path_factory.mktemp(task)
    write_data(root / "data.npz", task)
    for width in (4, 16):
        proc = run_kopt("train", *SHARED, f"trainer.monitor={MONITOR[task]}", f"model.width={width}", cwd=root)
        assert proc.returncode == 0, proc.stderr
    runs = sorted((root / "runs" / "train").iterdir())  # (named by their start: width 4 first)
    assert read_summary(runs[0])["data"]["task"] == task
    return task, runs[0], runs[1]


def compare(tmp_path, a, b, *args: str) -> tuple[dict, str]:
    out = tmp_path / f"cmp{len(list(tmp_path.iterdir()))}"
    proc = run_kopt(
        "compare", str(a), str(b), *args, "--resamples", "2000", "--bootstrap-seed", "3", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "comparison.json").read_text()), proc.stdout


def test_compare_pairs_the_per_example_errors_that_fit_the_task(two_runs, tmp_path):
    task, a, b = two_runs
    result, stdout = compare(tmp_path, a, b)
    assert result["task"] == task
    # default per-fold score: val_accuracy where the runs log it (multi-label), else trainer.monitor
    check_folds(result, a, b, "val_mae" if task == "regression" else "val_accuracy")
    check_test_set(result, a, b, task)
    assert ("mae" if task == "regression" else "hamming_loss") in stdout and "mcnemar" not in stdout
    assert "test_accuracy" not in result  # (a classifier's keys: its test set's score is an accuracy)

    metric = "val_rmse" if task == "regression" else "val_loss"
    again, _ = compare(tmp_path, a, b, "--metric", metric)
    check_folds(again, a, b, metric)
    check_test_set(again, a, b, task)  # the same test-set tests, whatever the fold score

    # --metric test_*: every fold on the one test set; the verdict follows the task's test-set test
    shared, _ = compare(tmp_path, a, b, "--metric", "test_mae" if task == "regression" else "test_loss")
    assert shared["primary_test"] == ("wilcoxon_abs_error" if task == "regression" else "wilcoxon_hamming")
    primary = next(t for t in shared["tests"] if t["name"] == shared["primary_test"])
    assert shared["winner"] == primary["better"]


def test_ensemble_is_the_mean_of_the_members_predictions(two_runs, tmp_path):
    task, a, b = two_runs
    pa, pb = arrays(a), arrays(b)
    y = pa["y_true"]
    proc = run_kopt("ensemble", str(a), "--out", "folds", cwd=tmp_path)  # the fold models of one run
    assert proc.returncode == 0, proc.stderr
    check_ensemble(tmp_path / "folds", list(pa["fold_probs"]), y, task)
    assert arrays(tmp_path / "folds")["probs"] == pytest.approx(pa["probs"], abs=1e-6)  # the run's own average
    proc = run_kopt("ensemble", str(a), str(b), "--out", "runs2", cwd=tmp_path)  # two runs
    assert proc.returncode == 0, proc.stderr
    check_ensemble(tmp_path / "runs2", [pa["probs"], pb["probs"]], y, task)
    if task == "regression":
        assert "test_mae" in proc.stdout and "test_rmse" in proc.stdout and "test_acc" not in proc.stdout
        for method in ("vote", "weighted"):
            proc = run_kopt("ensemble", str(a), str(b), "--method", method, "--out", method, cwd=tmp_path)
            assert_clean_error(proc, f"--method {method}", "regression", "allowed: mean")
            assert not (tmp_path / method).exists()
    else:
        proc = run_kopt("ensemble", str(a), str(b), "--method", "vote", "--out", "vote", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        votes = ((pa["probs"] > 0.5).astype(float) + (pb["probs"] > 0.5)) / 2
        mean = (pa["probs"] + pb["probs"]) / 2
        expected = np.where(votes == 0.5, mean > 0.5, votes > 0.5)  # a tied vote: the mean probability
        result = json.loads((tmp_path / "vote" / "ensemble.json").read_text())
        assert result["ensemble"]["accuracy"] == pytest.approx(float((expected == y).mean()))
        assert result["ensemble"]["loss"] is None


def test_ab_of_two_regression_configs_judges_the_absolute_errors(tmp_path):
    write_data(tmp_path / "data.npz", "regression")
    args = ["a=model.width=4", "b=model.width=16", *SHARED, "trainer.monitor=val_mae"]
    proc = run_kopt("ab", *args, "--resamples", "2000", "--bootstrap-seed", "3", "--out", "ab", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    a, b = tmp_path / "ab" / "a", tmp_path / "ab" / "b"
    result = json.loads((tmp_path / "ab" / "comparison.json").read_text())
    assert result["task"] == "regression" and result["protocol"]["a"] == "fixed"
    check_folds(result, a, b, "val_mae")
    check_test_set(result, a, b, "regression")
    assert "test mae" in proc.stdout and "mcnemar" not in proc.stdout


def test_ensemble_of_a_regression_studys_top_trials_averages_their_values(tmp_path):
    write_data(tmp_path / "data.npz", "regression")
    proc = run_kopt(
        "tune", *SHARED, "trainer.monitor=val_mae", "tuner.metric=val_mae", "tuner=random",
        "tuner.n_trials=2", "tuner.study_name=s", "tuner.retrain_best=false", "tuner.plots=false",
        "search.model.width=choice(4, 16)", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = run_kopt("ensemble", "--study", "runs/tune/s", "--top", "2", "--out", "ens", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    saved = arrays(tmp_path / "ens")
    with np.load(tmp_path / "data.npz") as z:
        y = z["y_train"][saved["test_idx"]]
    assert saved["member_probs"].shape == (2, len(y), 1) and np.array_equal(saved["y_true"], y)
    members = [m.astype("float64") for m in saved["member_probs"]]
    result = check_ensemble(tmp_path / "ens", members, y, "regression")
    assert result["sources"]["study"]["direction"] == "minimize"  # ranked on val_mae, lowest first
    values = result["sources"]["study"]["values"]
    assert values == sorted(values)
