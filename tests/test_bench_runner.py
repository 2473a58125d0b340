"""benchmarks/run_all.py: BENCHMARKS.md is rebuilt from the newest recorded result of each script."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import run_all  # noqa: E402


def result(name: str, measured: float, **extra) -> dict:
    return {"benchmark": name, "targets": [{"name": "ratio", "target": "<= 1.1", "measured": measured,
                                             "ok": measured <= 1.1, "unit": "x"}], **extra}


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
    write(results / "b.json", {"date": "2026-11-26", "quick": False,
                               "benchmarks": [result("overhead", 0.9), {"benchmark": "workers", "error": "boom",
                                                                        "targets": []}]}, 200)
    write(results / "c-quick.json", {"date": "2026-11-26", "quick": True, "benchmarks": [result("overhead", 1.5)]}, 300)
    doc = run_all.collect("overhead.py")
    assert doc["targets"][0]["measured"] == 0.9 and "b.json" in doc["notes"]  # newest date; full beats quick
    # a failed entry is no result: the older single-script file is used, or none
    assert run_all.collect("workers.py")["error"].startswith("no recorded result")


def test_render_marks_short_targets_and_unmeasured_scripts():
    meta = {"date": "2026-11-26", "machine": {"cpu": "cpu", "cores": 2, "host": "h"}, "quick": False, "file": "x.json"}
    text = run_all.render([result("overhead", 1.3), {"benchmark": "workers", "error": "exit 1\nno server", "targets": []}],
                          meta, [("overhead.py", "P1"), ("workers.py", "P6")])
    assert "| ratio | <= 1.1 | 1.3 x | **short** |" in text
    assert "## P6 (`benchmarks/workers.py`)\n\nNot measured: no server" in text


def test_collect_prefers_the_recorded_time_over_file_times(results):
    # in a fresh clone every file has the checkout's mtime: the time written in the result decides
    write(results / "later.json", {"date": "2026-11-26", "time": "2026-11-26T11:00:00+00:00",
                                   "benchmarks": [result("overhead", 0.8)]}, 100)
    write(results / "earlier.json", {"date": "2026-11-26", "time": "2026-11-26T09:00:00+00:00",
                                     "benchmarks": [result("overhead", 1.2)]}, 200)
    assert run_all.collect("overhead.py")["targets"][0]["measured"] == 0.8
