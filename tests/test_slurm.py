"""kopt on a real (throwaway, single-node) SLURM cluster: the cluster itself, `kopt train -m
hydra/launcher=slurm` sweeps (summary, logs, a failed job, resume).

All SLURM tests live in this module and share one xdist group, so one worker starts one cluster
(`make test` runs pytest with `--dist loadgroup`; the fixture also tolerates one cluster per
worker: ports and folders are its own).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import TINY, read_summary, run_kopt

pytestmark = pytest.mark.xdist_group("slurm")

# what the tests' jobs ask of SLURM: one core, a little memory, a short limit
LAUNCHER = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
            "hydra.launcher.timeout_min=10"]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_cluster_runs_a_batch_job(slurm_cluster, tmp_path):
    out = tmp_path / "out.txt"
    job = slurm_cluster.run("sbatch", "--parsable", "-o", str(out), "--wrap", "echo job=$SLURM_JOB_ID").stdout.strip()
    slurm_cluster.wait_jobs(60)
    assert out.read_text().strip() == f"job={job}"


def test_a_sweep_runs_as_slurm_jobs_records_a_failure_and_resumes_only_the_rest(slurm_cluster, tmp_path):
    # job 0 diverges (NaN loss at once), jobs 1 and 2 complete: three SLURM array tasks
    args = ["train", "-m", *LAUNCHER, *TINY, "optimizer=sgd", "optimizer.lr=1e30,0.01,0.02"]
    proc = run_kopt(*args, cwd=tmp_path, env={"SLURM_CONF": str(slurm_cluster.conf)}, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in proc.stderr, out
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kopt: error:")]
    assert len(errors) == 1 and "1 job(s) failed" in errors[0] and "NaN" in errors[0], proc.stderr

    (sweep_dir,) = (tmp_path / "runs" / "multirun").iterdir()
    rows = {r["job"]: r for r in read_csv(sweep_dir / "sweep.csv")}
    assert sorted(rows) == ["0", "1", "2"]
    assert rows["0"]["status"] == "failed" and "NaN" in rows["0"]["error"]
    for job in ("1", "2"):
        summary = read_summary(sweep_dir / job)
        assert summary["status"] == "completed" and rows[job]["status"] == "completed"
        assert float(rows[job]["test_accuracy"]) == pytest.approx(summary["metrics"]["test_accuracy"])
    assert [f["job"] for f in json.loads((sweep_dir / "sweep.json").read_text())["failed"]] == ["0"]

    # each job ran as its own SLURM job, and its stdout/stderr are in the sweep dir
    logs = sorted((sweep_dir / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 3, logs
    assert len({p.parent.name for p in logs}) == 3
    assert any("NaN" in p.with_name(p.name.replace("_log.out", "_log.err")).read_text() for p in logs)

    # resume=true: the completed jobs are left as they are, the failed one runs again
    before = {job: (sweep_dir / job / "metrics.jsonl").stat().st_mtime_ns for job in ("1", "2")}
    proc = run_kopt(*args, "resume=true", cwd=tmp_path, env={"SLURM_CONF": str(slurm_cluster.conf)}, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "1 job(s) failed" in proc.stderr, out
    assert "1 of 3 jobs completed" not in out and "2 of 3 jobs completed" in out, out
    assert [p.name for p in (tmp_path / "runs" / "multirun").iterdir()] == [sweep_dir.name]
    assert {job: (sweep_dir / job / "metrics.jsonl").stat().st_mtime_ns for job in ("1", "2")} == before
    new_logs = sorted(set((sweep_dir / ".submitit").glob("*/*_log.out")) - set(logs))
    assert len(new_logs) == 3, new_logs
    skipped = [p for p in new_logs if "already completed" in p.read_text()]
    assert len(skipped) == 2, [p.read_text()[-500:] for p in new_logs]
