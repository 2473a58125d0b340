"""Multirun sweeps as a user runs them: job dirs, sweep.csv/json, a failing job, the joblib launcher,
TensorBoard events, curves.png and `kopt report` on the sweep."""

from __future__ import annotations

import csv
import json
import re
import statistics
from datetime import datetime
from pathlib import Path

import pytest
from conftest import TINY, read_summary, run_kopt

METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss")


def sweep_dir_of(cwd: Path) -> Path:
    dirs = sorted((cwd / "runs" / "multirun").iterdir())
    assert len(dirs) == 1, dirs
    return dirs[0]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A 4-job sweep: regularizer=none,l2 x seed=0,1, tiny budgets."""
    cwd = tmp_path_factory.mktemp("sweep")
    proc = run_kopt("train", "-m", *TINY, "regularizer=none,l2", "seed=0,1", cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return cwd, sweep_dir_of(cwd), proc


def test_sweep_writes_one_dir_per_job_and_a_summary(sweep):
    cwd, sweep_dir, proc = sweep
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    summaries = {p.name: read_summary(p) for p in jobs}
    assert all(s["status"] == "completed" for s in summaries.values())

    rows = read_csv(sweep_dir / "sweep.csv")
    assert len(rows) == 4
    assert sorted(r["job"] for r in rows) == ["0", "1", "2", "3"]
    for row in rows:  # each row: that job's overrides and final metrics
        summary = summaries[row["job"]]
        assert row["regularizer"] == summary["choices"]["regularizer"]
        assert int(row["seed"]) == summary["seed"]
        assert f"seed={summary['seed']}" in row["overrides"]
        assert float(row["val_accuracy"]) == pytest.approx(summary["metrics"]["val_accuracy"], rel=1e-12)

    # grouped by the non-seed override that varies, mean ± std over the seeds, recomputed here
    result = json.loads((sweep_dir / "sweep.json").read_text())
    assert result["group_by"] == ["regularizer"]
    assert len(result["jobs"]) == 4
    for group in result["groups"]:
        members = [s for s in summaries.values() if s["choices"]["regularizer"] == group["regularizer"]]
        assert group["runs"] == group["completed"] == len(members) == 2
        for metric in METRICS:
            values = [s["metrics"][metric] for s in members]
            assert group[metric + "_mean"] == pytest.approx(statistics.mean(values), rel=1e-9)
            assert group[metric + "_std"] == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-12)
    assert "grouped by regularizer" in proc.stdout
    assert "sweep.csv" in proc.stdout


def test_every_run_writes_tensorboard_events_equal_to_metrics_jsonl(sweep):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    _, sweep_dir, _ = sweep
    run_dir = sweep_dir / "2"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    checked = 0
    for part, prefix in (("train", ""), ("validation", "val_")):
        acc = EventAccumulator(str(run_dir / "tb" / "job 2" / part), size_guidance={"tensors": 0}).Reload()
        for name in ("loss", "accuracy"):
            events = acc.Tensors(f"epoch_{name}")
            assert [e.step for e in events] == [r["epoch"] for r in rows]
            for event, row in zip(events, rows):
                assert float(make_ndarray(event.tensor_proto)) == pytest.approx(row[prefix + name], rel=1e-6)
                checked += 1
    lr = EventAccumulator(str(run_dir / "tb" / "job 2" / "train"), size_guidance={"tensors": 0}).Reload()
    assert [float(make_ndarray(e.tensor_proto)) for e in lr.Tensors("epoch_learning_rate")] == pytest.approx(
        [r["lr"] for r in rows], rel=1e-6
    )
    assert checked == 4 * len(rows)


def test_every_run_writes_curves_png_and_metrics_csv(sweep):
    from PIL import Image

    from kopt.report.plots import CURVES_SIZE, DPI

    _, sweep_dir, _ = sweep
    for job in ("0", "1", "2", "3"):
        with Image.open(sweep_dir / job / "curves.png") as img:
            assert img.size == (CURVES_SIZE[0] * DPI, CURVES_SIZE[1] * DPI)
            assert len(img.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 10  # lines, not blank
        jsonl = [json.loads(line) for line in (sweep_dir / job / "metrics.jsonl").read_text().splitlines()]
        rows = read_csv(sweep_dir / job / "metrics.csv")
        assert [float(r["val_loss"]) for r in rows] == pytest.approx([r["val_loss"] for r in jsonl], rel=1e-12)


def test_report_on_the_sweep_prints_and_exports(sweep):
    from PIL import Image

    from kopt.report.plots import COMPARE_SIZE, DPI

    cwd, sweep_dir, _ = sweep
    proc = run_kopt(
        "report",
        str(sweep_dir),
        "--group-by",
        "regularizer",
        "--csv",
        "out.csv",
        "--markdown",
        "out.md",
        "--plot",
        "cmp.png",
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for job in ("0", "1", "2", "3"):
        assert re.search(rf"^\W*{job}\W+completed\W", proc.stdout, re.M), proc.stdout
    assert "grouped by regularizer" in proc.stdout

    summaries = [read_summary(sweep_dir / j) for j in ("0", "1", "2", "3")]
    rows = read_csv(cwd / "out.csv")
    assert sorted(r["regularizer"] for r in rows) == ["l2", "none"]
    for row in rows:
        values = [s["metrics"]["test_accuracy"] for s in summaries if s["choices"]["regularizer"] == row["regularizer"]]
        assert float(row["test_accuracy_mean"]) == pytest.approx(statistics.mean(values), rel=1e-9)
        assert float(row["test_accuracy_std"]) == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-12)

    md = (cwd / "out.md").read_text().splitlines()
    assert md[0].startswith("| regularizer |") and md[1].startswith("|---")
    assert sum(1 for line in md if re.match(r"\| \d \| completed \|", line)) == 4

    with Image.open(cwd / "cmp.png") as img:
        assert img.format == "PNG"
        width, height = img.size  # taller by the legend below the curves (the axes keep their height)
        assert width == COMPARE_SIZE[0] * DPI and height >= COMPARE_SIZE[1] * DPI
        assert len(img.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 10


def test_a_failing_job_is_recorded_and_the_others_complete(tmp_path):
    # job 0 diverges (NaN loss at once), job 1 must still run
    proc = run_kopt("train", "-m", *TINY, "optimizer=sgd", "optimizer.lr=1e30,0.01", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kopt: error:")]
    assert len(errors) == 1 and "1 job(s) failed" in errors[0] and "NaN" in errors[0], proc.stderr

    sweep_dir = sweep_dir_of(tmp_path)
    failed, done = read_summary(sweep_dir / "0"), read_summary(sweep_dir / "1")
    assert failed["status"] == "failed" and "NaN" in failed["error"]
    assert done["status"] == "completed" and (sweep_dir / "1" / "model.keras").exists()
    rows = {r["job"]: r for r in read_csv(sweep_dir / "sweep.csv")}
    assert rows["0"]["status"] == "failed" and "NaN" in rows["0"]["error"]
    assert rows["1"]["status"] == "completed" and rows["1"]["error"] == ""
    assert float(rows["1"]["test_accuracy"]) == pytest.approx(done["metrics"]["test_accuracy"])
    result = json.loads((sweep_dir / "sweep.json").read_text())
    assert [f["job"] for f in result["failed"]] == ["0"]


def _interval(summary: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(summary["started_at"]), datetime.fromisoformat(summary["finished_at"])


def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path):
    import joblib

    proc = run_kopt("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY, "seed=0,1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sweep_dir = sweep_dir_of(tmp_path)
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]  # one sweep dir, no collision
    (s0, f0), (s1, f1) = (_interval(read_summary(sweep_dir / j)) for j in ("0", "1"))
    assert max(s0, s1) < min(f0, f1), "the two jobs did not overlap in time"
    # each job's TensorFlow got its share of the cores
    threads = max(1, joblib.cpu_count() // 2)
    for job in ("0", "1"):
        log = (sweep_dir / job / "train.log").read_text()
        assert f"intra_threads={threads} inter_threads={threads}" in log, log
    assert len(read_csv(sweep_dir / "sweep.csv")) == 2


def test_sweep_values_are_validated_before_any_job_runs(tmp_path):
    from conftest import assert_clean_error

    proc = run_kopt("train", "-m", *TINY, "seed=0,1", "trainer.epochs=1,0", cwd=tmp_path)
    assert_clean_error(proc, "trainer.epochs")
    assert not (tmp_path / "runs" / "multirun").exists()
    proc = run_kopt("train", "-m", "hydra/launcher=jobblib", "seed=0,1", cwd=tmp_path)
    assert_clean_error(proc, "hydra/launcher=jobblib", "joblib", "slurm")
    assert not (tmp_path / "runs" / "multirun").exists()
