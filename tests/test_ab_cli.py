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
SHARED = ["split=cv5x2", "dataset=digits", "dataset.limit=200", "trainer.epochs=1", "trainer.batch_size=32",
          "optimizer.lr=0.01"]
SIDE_A = "a=model=mlp model.width=16 model.depth=1"
SIDE_B = "b=model=cnn model.width=4 model.depth=1 model.convs_per_block=1 model.dense=0"
EVERY_TEST = ["paired_t", "corrected_resampled_t", "cv5x2_t", "cv5x2_f", "wilcoxon", "mcnemar_exact", "paired_bootstrap"]


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
    assert result["a"]["overrides"] == ["model=mlp", "model.width=16", "model.depth=1"]
    assert result["shared_overrides"] == SHARED
    assert "cv5x2_f" in proc.stdout and ("wins" in proc.stdout or "no significant difference" in proc.stdout)


@pytest.mark.parametrize("args, needles", [
    ((SIDE_A, "b=model=nope"), ("side b", "model=nope", "allowed")),
    ((SIDE_A, "b=model=cnn trainer.epochs=-1"), ("side b", "trainer.epochs")),
    ((SIDE_A, "b=model=cnn seed=3"), ("share seed",)),
    ((SIDE_A, "b=model=cnn split=kfold"), ("share split",)),
    ((SIDE_A,), ("missing b=",)),
    ((SIDE_A, SIDE_B, "trainer.nope=1"), ("trainer.nope",)),
    ((SIDE_A, SIDE_B, "-m"), ("-m",)),
    ((SIDE_A, SIDE_B, "seed=0,1"), ("sweep",)),
])
def test_ab_refuses_bad_input_before_training(tmp_path, args, needles):
    proc = run_kopt("ab", *args, cwd=tmp_path)
    assert_clean_error(proc, *needles)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv", [["ab", "--help"], ["compare", "--help"], ["ensemble", "--help"],
                                  ["ab", SIDE_A, "b=model=cnn seed=3"]])
def test_help_and_refusals_never_import_tensorflow(argv, tmp_path):
    proc = subprocess.run([sys.executable, "-c", NO_TF_SNIPPET.format(argv=argv)], cwd=tmp_path, env=kopt_env(),
                          text=True, capture_output=True, timeout=120)
    assert "LOADED: none" in proc.stdout, proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists()
