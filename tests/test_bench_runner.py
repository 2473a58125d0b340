"""benchmarks/run_all.py: BENCHMARKS.md is rebuilt from the newest recorded result of each script."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import run_all


def result(name: str, measured: float, **extra) -> dict:
    return {
        "benchmark": name,
        "targets": [{"name": "ratio", "target": "<= 1.1", "measured": measured, "ok": measured <= 1.1, "unit": "x"}],
        **extra,
    }


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(run_all, "RESULTS", tmp_path)
    return tmp_path


def write(path, doc, mtime):
    import os

    path.write_text(json.dumps(doc))
    os.utime(path, (mtime, mtime))


def test_collect_reads_whole_runs_and_single_scripts_newest_first_full_over_quick(results):
    write(results / "a-overhead.json", {**result("overhead", 1.3), "date": "2026-11-25"}, 100)
    write(
        results / "b.json",
        {
            "date": "2026-11-26",
            "quick": False,
            "benchmarks": [result("overhead", 0.9), {"benchmark": "workers", "error": "boom", "targets": []}],
        },
        200,
    )
    write(results / "c-quick.json", {"date": "2026-11-26", "quick": True, "benchmarks": [result("overhead", 1.5)]}, 300)
    doc = run_all.collect("overhead.py")
    assert doc["targets"][0]["measured"] == 0.9 and "b.json" in doc["notes"]  # newest date; full beats quick
    # a failed entry is no result: the older single-script file is used, or none
    assert run_all.collect("workers.py")["error"].startswith("no recorded result")


def test_render_marks_short_targets_and_unmeasured_scripts():
    meta = {"date": "2026-11-26", "machine": {"cpu": "cpu", "cores": 2, "host": "h"}, "quick": False, "file": "x.json"}
    text = run_all.render(
        [result("overhead", 1.3), {"benchmark": "workers", "error": "exit 1\nno server", "targets": []}],
        meta,
        [("overhead.py", "P1"), ("workers.py", "P6")],
    )
    assert "| ratio | <= 1.1 | 1.3 x | **short** |" in text
    assert "## P6 (`benchmarks/workers.py`)\n\nNot measured: no server" in text


def test_collect_prefers_the_recorded_time_over_file_times(results):
    # in a fresh clone every file has the checkout's mtime: the time written in the result decides
    write(
        results / "later.json",
        {"date": "2026-11-26", "time": "2026-11-26T11:00:00+00:00", "benchmarks": [result("overhead", 0.8)]},
        100,
    )
    write(
        results / "earlier.json",
        {"date": "2026-11-26", "time": "2026-11-26T09:00:00+00:00", "benchmarks": [result("overhead", 1.2)]},
        200,
    )
    assert run_all.collect("overhead.py")["targets"][0]["measured"] == 0.8


FAKE_SCRIPT = """import argparse, json
p = argparse.ArgumentParser(); p.add_argument("--out"); p.add_argument("--quick", action="store_true")
a = p.parse_args()
t = {"name": "ratio", "target": "<= 1.1", "measured": 0.5 if a.quick else 0.9, "ok": True, "unit": "x"}
open(a.out, "w").write(json.dumps({"benchmark": "fake", "targets": [t]}))
"""


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """A checkout with one benchmark script (fake.py) and one listed script that does not exist."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "fake.py").write_text(FAKE_SCRIPT)
    (tmp_path / "BENCHMARKS.md").write_text("committed\n")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    monkeypatch.setattr(run_all, "RESULTS", tmp_path / "benchmarks" / "results")
    monkeypatch.setattr(run_all, "SCRIPTS", [("fake.py", "Fake"), ("gone.py", "Gone")])
    return tmp_path


def test_quick_run_writes_its_own_summary_and_leaves_benchmarks_md_alone(fake_root, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--quick"])
    run_all.main()
    assert (fake_root / "BENCHMARKS.md").read_text() == "committed\n"
    (summary,) = (fake_root / "benchmarks" / "results").glob("*-quick.md")
    assert "| ratio | <= 1.1 | 0.5 x | pass |" in summary.read_text()
    assert summary.with_suffix(".json").is_file()


def test_benchmarks_md_names_only_scripts_that_exist(fake_root, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_all.py"])
    run_all.main()
    text = (fake_root / "BENCHMARKS.md").read_text()
    assert "`benchmarks/fake.py`" in text and "0.9 x" in text
    assert "gone" not in text.lower()
    monkeypatch.setattr(sys, "argv", ["run_all.py", "--collect"])
    run_all.main()
    text = (fake_root / "BENCHMARKS.md").read_text()
    assert "`benchmarks/fake.py`" in text and "gone" not in text.lower()


def test_the_committed_benchmarks_md_names_only_existing_scripts():
    import re

    named = set(re.findall(r"benchmarks/(\w+\.py)", (ROOT / "BENCHMARKS.md").read_text()))
    assert named and all((ROOT / "benchmarks" / name).is_file() for name in named), named


def _called(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    return {getattr(n.func, "id", getattr(n.func, "attr", None)) for n in ast.walk(tree) if isinstance(n, ast.Call)}


def test_the_pipeline_benchmark_trains_through_the_pipeline_training_uses():
    """P2 measures run_train's input pipeline (the resumable stream), not a path training never takes."""
    import inspect

    from kopt.data import pipeline

    bench, training = (
        _called(ROOT / "benchmarks" / "pipeline_throughput.py"),
        _called(ROOT / "kopt" / "training" / "fit.py"),  # train_fold, which run_train calls per fold
    )
    assert "train_stream" in bench and "train_stream" in training
    assert "make_dataset" not in bench
    assert not {"training", "augment"} & set(inspect.signature(pipeline.make_dataset).parameters)  # evaluation only


def test_the_kerastuner_hypermodel_builds_kopts_cnn():
    """tune_vs_kerastuner, tiny_trials and trial_memory build KerasTuner's trials with kopt's own
    builder; a regularizer node without its name stopped all three (found when tiny_trials.py ran)."""
    from tune_vs_kerastuner import hypermodel

    class FixedHyperParameters:  # KerasTuner's hp interface: the first choice, the low end
        def Choice(self, name, values):
            return values[0]

        def Float(self, name, low, high, sampling=None):
            return low

    model = hypermodel((8, 8, 1), 10)(FixedHyperParameters())
    assert model.output_shape == (None, 10) and model.optimizer is not None
