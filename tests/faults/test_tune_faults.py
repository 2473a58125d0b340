"""Faults in `kopt tune`: SIGTERM mid-trial, and SIGKILL of one of two workers sharing a study.
Finished trials survive untouched; the interrupted trial is FAIL "interrupted" and run again;
the storage ends with exactly n_trials finished trials and none RUNNING."""

from __future__ import annotations

import csv
import json
import signal
import time
from pathlib import Path

import pytest
from conftest import TINY, read_summary, run_kopt
from faultlib import fault_rng, interrupt, metric_rows, start_kopt, wait_for_rows

pytestmark = pytest.mark.slow

STUDY = [
    "tuner=random",
    "pruner=none",
    "tuner.retrain_best=false",
    "tuner.plots=false",
    "search.model.width=choice(8, 12, 16, 24, 32)",
    "search.optimizer.lr=tag(log, interval(1e-3, 1e-2))",
]


def trials_csv(study: Path) -> dict[int, dict]:
    with open(study / "trials.csv") as fh:
        return {int(r["number"]): r for r in csv.DictReader(fh)}


def storage_states(study: Path, name: str) -> list[str]:
    import optuna

    from kopt.tune.store.storage import open_storage

    return [
        t.state.name
        for t in optuna.load_study(study_name=name, storage=open_storage(str(study / "journal.log"))).trials
    ]


def test_sigterm_marks_the_running_trial_interrupted_then_rerun_finishes(tmp_path):
    args = ["tune", *TINY, "trainer.epochs=20", "tuner.n_trials=3", "tuner.study_name=term", *STUDY]
    study = tmp_path / "runs" / "tune" / "term"
    proc = start_kopt(*args, cwd=tmp_path)
    wait_for_rows(proc, "runs/tune/term/trials/1/metrics.jsonl", tmp_path, fault_rng("tune-term").randint(1, 10))
    out, err = interrupt(proc, signal.SIGTERM)
    assert "run the same kopt tune command again to resume it" in err
    assert "kopt train resume=" not in out + err  # a trial is redone by tune, not resumed by hand
    rows = trials_csv(study)
    assert rows[0]["state"] == "COMPLETE"
    assert rows[1]["state"] == "FAIL" and rows[1]["fail_reason"] == "interrupted (SIGTERM)"
    assert "RUNNING" not in storage_states(study, "term")  # the storage is consistent
    assert read_summary(study / "trials" / "1")["status"] == "interrupted"
    assert not (study / "trials" / "1" / "checkpoints").exists()  # trials are redone, never resumed
    done = (study / "trials" / "0" / "summary.json").read_bytes()

    proc = run_kopt(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = trials_csv(study)
    assert (study / "trials" / "0" / "summary.json").read_bytes() == done  # finished work untouched
    retry = [r for r in rows.values() if r["retry_of"] == "1"]
    assert len(retry) == 1 and retry[0]["state"] == "COMPLETE"
    assert (retry[0]["params_model.width"], retry[0]["params_optimizer.lr"]) == (
        rows[1]["params_model.width"],
        rows[1]["params_optimizer.lr"],
    )
    assert read_summary(study)["counts"] == {"COMPLETE": 3, "PRUNED": 0, "FAIL": 1, "RUNNING": 0}


def _workers(study: Path) -> list[int]:
    """The study's worker processes, as their timelines name them (forked from the workers' fork
    server, they are not children of kopt tune), those alive."""
    from kopt.tune.running.timeline import read_timeline

    pids = [read_timeline(study / "workers" / f"{i}.timeline")[0]["pid"] for i in (0, 1)]
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def test_sigkill_of_one_of_two_workers_sharing_a_study(tmp_path):
    import os

    args = [
        "tune",
        *TINY,
        "trainer.epochs=20",
        "tuner.n_trials=4",
        "tuner.n_workers=2",
        "tuner.study_name=pair",
        *STUDY,
    ]
    study = tmp_path / "runs" / "tune" / "pair"
    proc = start_kopt(*args, cwd=tmp_path)
    deadline = time.time() + 300
    while not all(len(metric_rows(study / "trials" / str(n) / "metrics.jsonl")) >= 2 for n in (0, 1)):
        assert proc.poll() is None and time.time() < deadline, "the two workers never trained side by side"
        time.sleep(0.05)
    workers = _workers(study)
    assert len(workers) == 2, workers
    victim = workers[fault_rng("tune-kill").randint(0, 1)]
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "killed; the trials they left were marked FAIL" in err and "Traceback" not in err
    rows = trials_csv(study)
    dead = [r for r in rows.values() if r["state"] == "FAIL"]
    assert len(dead) == 1 and dead[0]["fail_reason"] == f"interrupted: its process ({victim}) died"
    assert read_summary(study / dead[0]["run_dir"])["status"] == "interrupted"
    retry = [r for r in rows.values() if r["retry_of"] == dead[0]["number"]]
    assert len(retry) == 1 and retry[0]["state"] == "COMPLETE"
    assert sorted(storage_states(study, "pair")) == ["COMPLETE"] * 4 + ["FAIL"]  # exactly n_trials, none RUNNING
    for r in rows.values():
        if r["state"] == "COMPLETE":
            assert json.loads((study / r["run_dir"] / "summary.json").read_text())["status"] == "completed"
