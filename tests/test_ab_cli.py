"""`kopt ab`: two configs trained on identical folds, then compared, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import assert_clean_error, kopt_env, read_summary, run_kopt
from test_cli import NO_TF_SNIPPET

# digits, 5x2cv, one short epoch per fold: a small mlp against a small cnn
SHARED = [
    "split=cv5x2",
    "dataset=digits",
    "dataset.limit=200",
    "trainer.epochs=1",
    "trainer.batch_size=32",
    "optimizer.lr=0.01",
]
SIDE_A = "a=model=mlp model.width=16 model.depth=1"
SIDE_B = "b=model=cnn model.width=4 model.depth=1 model.convs_per_block=1 model.dense=0"
EVERY_TEST = [
    "paired_t",
    "corrected_resampled_t",
    "cv5x2_t",
    "cv5x2_f",
    "wilcoxon",
    "mcnemar_exact",
    "paired_bootstrap",
]


@pytest.mark.slow  # 20 tiny models (2 sides x 10 folds)
def test_ab_cv5x2_on_digits_writes_every_test(tmp_path):
    proc = run_kopt("ab", SIDE_A, SIDE_B, *SHARED, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (out,) = (tmp_path / "runs" / "ab").iterdir()
    a, b = out / "a", out / "b"
    for side, model in ((a, "mlp"), (b, "cnn")):
        summary = read_summary(side)
        assert summary["status"] == "completed" and len(summary["folds"]) == 10
        assert summary["choices"]["model"] == model
        assert yaml.safe_load((side / ".hydra" / "config.yaml").read_text())["split"]["name"] == "cv5x2"
        assert (side / "train.log").exists()
    with np.load(a / "splits.npz") as sa, np.load(b / "splits.npz") as sb:  # identical folds
        assert sorted(sa.files) == sorted(sb.files) and len(sa.files) == 21
        assert all(np.array_equal(sa[k], sb[k]) for k in sa.files)
    result = json.loads((out / "comparison.json").read_text())
    assert [t["name"] for t in result["tests"]] == EVERY_TEST
    assert result["skipped"] == []
    for t in result["tests"]:
        assert t["p_value"] is None or 0.0 <= t["p_value"] <= 1.0
    by_name = {t["name"]: t for t in result["tests"]}
    assert by_name["cv5x2_t"]["df"] == 5 and by_name["cv5x2_f"]["df"] == [10, 5]
    assert result["scores_a"] == [f["val_accuracy"] for f in read_summary(a)["folds"]]
    assert result["scores_b"] == [f["val_accuracy"] for f in read_summary(b)["folds"]]
    assert result["primary_test"] == "cv5x2_f"
    assert result["protocol"]["a"] == result["protocol"]["b"] == "fixed"  # kopt ab's default
    assert result["a"]["overrides"] == ["model=mlp", "model.width=16", "model.depth=1"]
    assert result["shared_overrides"] == SHARED
    assert "cv5x2_f" in proc.stdout and ("wins" in proc.stdout or "no significant difference" in proc.stdout)


def test_ab_identical_sides_differ_in_nothing_and_score_a_fixed_epoch(tmp_path):
    """Issue 16.1's acceptance, with model=mlp (the cnn one, on cv5x2, is in docs/compare.md):
    identical sides, scored by the default protocol (fixed: each fold's last epoch, chosen by
    nothing). Three folds (6 tiny models): the verdict and the protocol are the same on any split
    (every fold difference is 0); the 5x2cv tests themselves are test_ab_cv5x2_on_digits_writes_every_test's."""
    side = "model=mlp model.width=16 model.depth=1"
    shared = ["split=kfold", "split.k=3", *SHARED[1:]]
    shared = [s if not s.startswith("trainer.epochs") else "trainer.epochs=2" for s in shared]
    proc = run_kopt("ab", f"a={side}", f"b={side}", *shared, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (out,) = (tmp_path / "runs" / "ab").iterdir()
    result = json.loads((out / "comparison.json").read_text())
    assert result["winner"] is None and "no significant difference" in proc.stdout
    assert result["protocol"] == {"a": "fixed", "b": "fixed", "selected_on_scored_folds": False, "warnings": []}
    for name in ("a", "b"):
        summary = read_summary(out / name)
        assert summary["protocol"] == "fixed" and len(summary["folds"]) == 3
        rows = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
        for fold in summary["folds"]:
            assert fold["best_epoch"] == fold["epochs_run"] == 2
            last = next(r for r in rows if r["fold"] == fold["fold"] and r["epoch"] == 2)
            assert fold["val_accuracy"] == pytest.approx(last["val_accuracy"])
        assert result[f"scores_{name}"] == [f["val_accuracy"] for f in summary["folds"]]
    assert "trainer.protocol=fixed" in (out / "a" / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.parametrize(
    "args, needles",
    [
        ((SIDE_A, "b=model=nope"), ("side b", "model=nope", "allowed")),
        ((SIDE_A, "b=model=cnn trainer.epochs=-1"), ("side b", "trainer.epochs")),
        ((SIDE_A, "b=model=cnn seed=3"), ("share seed",)),
        ((SIDE_A, "b=model=cnn split=kfold"), ("share split",)),
        ((SIDE_A,), ("missing b=",)),
        ((SIDE_A, SIDE_B, "trainer.nope=1"), ("trainer.nope",)),
        ((SIDE_A, SIDE_B, "-m"), ("-m",)),
        ((SIDE_A, SIDE_B, "seed=0,1"), ("sweep",)),
        ((SIDE_A, SIDE_B, "protocol=inner"), ("protocol=inner", "allowed: best_epoch, fixed")),
        ((SIDE_A, "b=model=cnn trainer.protocol=best_epoch"), ("share trainer.protocol",)),
        ((SIDE_A, SIDE_B, "trainer.early_stopping.enabled=true"), ("early_stopping", "protocol=fixed")),
    ],
)
def test_ab_refuses_bad_input_before_training(tmp_path, args, needles):
    proc = run_kopt("ab", *args, cwd=tmp_path)
    assert_clean_error(proc, *needles)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argv", [["ab", "--help"], ["compare", "--help"], ["ensemble", "--help"], ["ab", SIDE_A, "b=model=cnn seed=3"]]
)
def test_help_and_refusals_never_import_tensorflow(argv, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", NO_TF_SNIPPET.format(argv=argv)],
        cwd=tmp_path,
        env=kopt_env(),
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert "LOADED: none" in proc.stdout, proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists()
