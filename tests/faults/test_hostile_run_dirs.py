"""Issue 15.6: read-only commands (report, compare, ensemble, resume) on malformed or hostile run dirs
give one line that names the file, leave that run out where they cover many, and never hang.

The run dirs are written by hand (no TensorFlow), and the commands run in-process, except
where a hang or the real process matters (a FIFO, resume).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_clean_error, kopt_env, run_kopt
from hostile import assert_one_line, finished_run, kopt_in_process, npy_claiming, npz_arrays, rewrite_npz, write_members


@pytest.fixture
def pair(tmp_path):
    a = finished_run(tmp_path / "runs" / "train" / "a")
    b = finished_run(tmp_path / "runs" / "train" / "b", shift=0.05)
    return a, b


def deep(n: int) -> str:
    return '{"status": "completed", "x": ' + "[" * n + "]" * n + "}"


# --- report: one bad run dir never breaks the whole tree -----------------------------------------


@pytest.mark.parametrize(
    "summary",
    [
        {"status": "completed", "choices": ["a"]},
        {"status": "completed", "params": "many"},
        {"status": "completed", "metrics": "high"},
        {"status": ["completed"]},
        {"status": "completed", "choices": {"model": {"deep": 1}}},
        deep(100_000),
    ],
    ids=["choices-list", "params-str", "metrics-str", "status-list", "choice-dict", "deep-nesting"],
)
def test_report_leaves_out_a_hostile_summary_and_shows_the_rest(tmp_path, pair, summary):
    bad = finished_run(tmp_path / "runs" / "train" / "bad")
    (bad / "summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    code, out, err = kopt_in_process("report", "runs", "--csv", "all.csv", cwd=tmp_path)
    assert code == 0 and "Traceback" not in err, err[-3000:]
    warnings = [line for line in err.splitlines() if line.startswith("kopt: warning:")]
    assert len(warnings) == 1 and "bad/summary.json" in warnings[0] and "left out" in warnings[0], err
    rows = (tmp_path / "all.csv").read_text().splitlines()
    assert len(rows) == 3 and not any("/bad" in r for r in rows)  # header + the two good runs


def test_report_does_not_follow_links_out_of_a_run_dir_or_loop(tmp_path, pair):
    secret = tmp_path / "elsewhere" / "summary.json"
    secret.parent.mkdir()
    secret.write_text(json.dumps({"status": "completed", "name": "SECRET"}))
    bad = finished_run(tmp_path / "runs" / "train" / "bad")
    (bad / "summary.json").unlink()
    (bad / "summary.json").symlink_to(secret)
    (tmp_path / "runs" / "train" / "loop").symlink_to(tmp_path / "runs")  # a walk that followed it would loop
    code, out, err = kopt_in_process("report", "runs", "--csv", "all.csv", cwd=tmp_path)
    assert code == 0, err[-3000:]
    assert "SECRET" not in (tmp_path / "all.csv").read_text()
    assert "bad/summary.json: a link that leads outside" in err
    assert len((tmp_path / "all.csv").read_text().splitlines()) == 3


def test_report_on_a_fifo_summary_does_not_hang(tmp_path, pair):
    bad = finished_run(tmp_path / "runs" / "train" / "bad")
    (bad / "summary.json").unlink()
    os.mkfifo(bad / "summary.json")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kopt", "report", "runs"],
            cwd=tmp_path,
            env=kopt_env(),
            text=True,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("kopt report hangs on a FIFO named summary.json")
    assert proc.returncode == 0, proc.stderr
    assert "bad/summary.json: a FIFO, not a file" in proc.stderr and "Traceback" not in proc.stderr


# --- compare and ensemble: damaged predictions, splits, config ----------------------------------


def _y(z, change):
    z["y_true"] = change(z["y_true"])


DAMAGE = {
    "probs-1d": lambda z: z.update(probs=z["probs"][:, 0]),
    "probs-wrong-rows": lambda z: z.update(probs=z["probs"][:-1]),
    "fold-probs-wrong-width": lambda z: z.update(fold_probs=np.concatenate([z["fold_probs"]] * 2, axis=2)),
    "y-out-of-range": lambda z: _y(z, lambda y: np.where(np.arange(len(y)) == 0, 99, y)),
    "y-negative": lambda z: _y(z, lambda y: y - 1),
    "y-float": lambda z: _y(z, lambda y: y + 0.5),
    "more-fold-probs-than-folds": lambda z: z.update(fold_probs=np.concatenate([z["fold_probs"]] * 2)),
    "nan-probs": lambda z: z["fold_probs"].__setitem__((0, 0, 0), np.nan) or z["probs"].__setitem__((0, 0), np.nan),
    "empty": lambda z: z.update(
        y_true=z["y_true"][:0], probs=z["probs"][:0], fold_probs=z["fold_probs"][:, :0], test_idx=z["test_idx"][:0]
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_compare_and_ensemble_refuse_damaged_predictions(tmp_path, pair, damage):
    a, b = pair
    rewrite_npz(b / "predictions.npz", DAMAGE[damage])
    assert_one_line(kopt_in_process("compare", str(a), str(b), cwd=tmp_path), "predictions.npz")
    assert_one_line(kopt_in_process("ensemble", str(b), cwd=tmp_path), "predictions.npz")
    assert_one_line(kopt_in_process("ensemble", str(a), str(b), cwd=tmp_path), "predictions.npz")
    assert not (tmp_path / "runs" / "compare").exists() and not (tmp_path / "runs" / "ensemble").exists()


def test_a_huge_npy_header_is_refused_before_anything_is_allocated(tmp_path, pair):
    a, b = pair
    arrays = npz_arrays(b / "predictions.npz")
    write_members(
        b / "predictions.npz", {"probs": npy_claiming((10**12,))}, {k: v for k, v in arrays.items() if k != "probs"}
    )
    assert_one_line(kopt_in_process("compare", str(a), str(b), cwd=tmp_path), "predictions.npz", "probs")
    write_members(
        b / "predictions.npz",
        {"probs": npy_claiming((3,), dtype="<f8" + " " * 20_000)},
        {k: v for k, v in arrays.items() if k != "probs"},
    )
    assert_one_line(kopt_in_process("ensemble", str(b), cwd=tmp_path), "predictions.npz")


def test_a_zip_bomb_is_measured_from_the_zip_directory_not_unpacked(tmp_path, pair, monkeypatch):
    import kopt.runfiles

    a, b = pair
    rewrite_npz(b / "predictions.npz", lambda z: z.update(pad=np.zeros(4 << 20, dtype=np.uint8)))  # 4 MiB of zeros
    assert (b / "predictions.npz").stat().st_size < 100_000
    monkeypatch.setattr(kopt.runfiles, "memory_budget", lambda: 1 << 20)
    assert_one_line(kopt_in_process("compare", str(a), str(b), cwd=tmp_path), "predictions.npz", "unpacks to")
    loaded = []
    monkeypatch.setattr(np, "load", lambda *a, **k: loaded.append(a) or pytest.fail("np.load was reached"))
    assert_one_line(kopt_in_process("ensemble", str(b), cwd=tmp_path), "predictions.npz", "unpacks to")
    assert not loaded  # ensemble reads nothing but predictions.npz: refused from its zip directory


def test_links_out_of_a_run_dir_are_not_followed(tmp_path, pair):
    a, b = pair
    other = finished_run(tmp_path / "elsewhere", shift=0.1)
    (b / "predictions.npz").unlink()
    (b / "predictions.npz").symlink_to(other / "predictions.npz")
    assert_one_line(kopt_in_process("compare", str(a), str(b), cwd=tmp_path), "predictions.npz", "outside")


@pytest.mark.parametrize(
    "text",
    ["dataset: [unclosed\n", "- just\n- a list\n", "dataset: 3\nsplit: x\n", "\t:\n"],
    ids=["unclosed", "list", "scalars", "tab"],
)
def test_a_garbled_config_yaml_is_one_line(tmp_path, pair, text):
    a, b = pair
    (b / ".hydra" / "config.yaml").write_text(text)
    assert_one_line(kopt_in_process("compare", str(a), str(b), cwd=tmp_path), "config.yaml")
    assert_one_line(kopt_in_process("ensemble", str(a), str(b), cwd=tmp_path), "config.yaml")


@pytest.mark.parametrize(
    "change",
    [
        {"folds": "many"},
        {"folds": [1, 2, 3]},
        {"metrics": [0.5]},
        {"choices": "mlp"},
    ],
    ids=["folds-str", "folds-ints", "metrics-list", "choices-str"],
)
def test_a_hostile_summary_is_one_line_for_compare_and_ensemble(tmp_path, pair, change):
    a, b = pair
    summary = json.loads((b / "summary.json").read_text())
    (b / "summary.json").write_text(json.dumps({**summary, **change}))
    assert_one_line(kopt_in_process("compare", str(a), str(b), cwd=tmp_path), "summary.json")
    assert_one_line(kopt_in_process("ensemble", str(b), cwd=tmp_path), "summary.json")


def test_a_split_without_the_folds_of_its_summary_is_one_line(tmp_path, pair):
    a, b = pair
    rewrite_npz(b / "splits.npz", lambda z: z.pop("train_2"))
    assert_one_line(kopt_in_process("compare", str(a), str(b), cwd=tmp_path), "splits.npz", "train_2")


def test_compare_a_run_with_itself_says_so(tmp_path, pair):
    a, _ = pair
    assert_one_line(kopt_in_process("compare", str(a), str(a) + "/", cwd=tmp_path), "same run")


def test_resume_of_a_deeply_nested_summary_is_one_line(tmp_path):
    run = finished_run(tmp_path / "runs" / "train" / "2026-01-01_00-00-00_000000")
    (run / "summary.json").write_text(deep(100_000))
    proc = run_kopt("train", f"resume={run}", cwd=tmp_path, timeout=120)
    assert_clean_error(proc, "summary.json")
