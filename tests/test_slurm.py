"""kopt on a real (throwaway, single-node) SLURM cluster: the cluster itself, `kopt train -m
hydra/launcher=slurm` sweeps (summary, logs, a failed job, resume).

All SLURM tests live in this module and share one xdist group with the PostgreSQL tests
(conftest's SERVICE_GROUP), so one worker starts one cluster and one PostgreSQL server (`make test`
runs pytest with `--dist loadgroup`; the fixture also tolerates one cluster per worker: ports and
folders are its own).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SERVICE_GROUP, TINY, kopt_env, read_summary, run_kopt, start_fresh_kopt, wait_for

sys.path.insert(0, str(Path(__file__).parent / "faults"))
from faultlib import start_kopt

pytestmark = pytest.mark.xdist_group(SERVICE_GROUP)

# what the tests' jobs ask of SLURM: one core, a little memory, a short limit
LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_cluster_runs_a_batch_job(slurm_cluster, tmp_path):
    out = tmp_path / "out.txt"
    job = slurm_cluster.run("sbatch", "--parsable", "-o", str(out), "--wrap", "echo job=$SLURM_JOB_ID").stdout.strip()
    slurm_cluster.wait_jobs(60)
    assert out.read_text().strip() == f"job={job}"


def test_a_sweep_runs_as_slurm_jobs_records_a_failure_and_resubmits_only_the_rest(slurm_cluster, tmp_path):
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
    # ... and only the failed one was submitted again
    new_logs = sorted(set((sweep_dir / ".submitit").glob("*/*_log.out")) - set(logs))
    assert len(new_logs) == 1, new_logs
    assert "job 1 is already completed; not submitted" in proc.stdout
    assert "job 2 is already completed; not submitted" in proc.stdout
    assert {r["job"]: r["status"] for r in read_csv(sweep_dir / "sweep.csv")} == {
        "0": "failed",
        "1": "completed",
        "2": "completed",
    }


def test_a_sweep_job_cancelled_by_slurm_is_a_failed_row_and_the_sweep_ends(slurm_cluster, tmp_path):
    # job 0 trains long enough to be cancelled mid-run (scancel, as a time limit or the OOM killer
    # would end it); job 1 completes. The sweep must end, not wait for a result that never comes.
    args = ["train", "-m", *LAUNCHER, *TINY, "trainer.epochs=300,2"]
    proc = start_kopt(*args, cwd=tmp_path, env={"SLURM_CONF": str(slurm_cluster.conf)})

    def job0_training():
        metrics = list((tmp_path / "runs" / "multirun").glob("*/0/metrics.jsonl"))
        return metrics and metrics[0].stat().st_size > 0

    try:
        wait_for(job0_training, 180, "job 0 to train")
        task = [t for t in slurm_cluster.run("squeue", "-h", "-r", "-o", "%i").stdout.split() if t.endswith("_0")]
        assert len(task) == 1, task
        slurm_cluster.run("scancel", task[0])
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("kopt: error:")]
    assert len(errors) == 1 and "1 job(s) failed" in errors[0], err
    (sweep_dir,) = (tmp_path / "runs" / "multirun").iterdir()
    rows = {r["job"]: r for r in read_csv(sweep_dir / "sweep.csv")}
    assert rows["1"]["status"] == "completed", rows
    assert rows["0"]["status"] == "failed" and "SLURM job" in rows["0"]["error"], rows  # and its log
    # this cluster keeps no accounting: SLURM's own line in the job's log says it cancelled the job
    assert "was ended by SLURM (*** JOB" in rows["0"]["error"] and "CANCELLED AT" in rows["0"]["error"], rows
    assert read_summary(sweep_dir / "0")["status"] == rows["0"]["status"]


# -- tune workers as a SLURM array job on a PostgreSQL study --------------------------------------

N_TRIALS = 6
STUDY = "slurmw"
TUNE = [
    *TINY,
    "dataset.size=300",
    "trainer.epochs=6",
    "tuner=random",
    "pruner=none",
    f"tuner.n_trials={N_TRIALS}",
    f"tuner.study_name={STUDY}",
    "tuner.heartbeat_interval=1",
    "tuner.grace_period=3",
    "tuner.retrain_best=false",
    "tuner.plots=false",
    "search.optimizer.lr=tag(log, interval(1e-3, 1e-1))",
]


def array_task_of(pid: int) -> str | None:
    """The SLURM array task (`<job>_<task>`) a local process belongs to, from its environment."""
    try:
        env = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in v)
    except OSError:
        return None
    if "SLURM_ARRAY_JOB_ID" not in env:
        return None
    return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"


def test_workers_as_an_array_job_finish_exactly_n_trials_and_a_cancelled_tasks_trial_is_redone(
    slurm_cluster, pg_url, tmp_path
):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    env = kopt_env({"SLURM_CONF": str(slurm_cluster.conf)})
    # a fresh process, not start_kopt's fork: a tune forked with TensorFlow already loaded ran the
    # study's trials before the array's workers (fresh, importing TensorFlow) took any
    tune = start_fresh_kopt(
        "tune",
        *TUNE,
        f"tuner.storage={pg_url}",
        cwd=tmp_path,
        env={"SLURM_CONF": str(slurm_cluster.conf)},
        merge_stderr=True,
    )

    from kopt.tune.store.storage import open_storage

    def load():
        try:  # (open_storage: the tune may be creating Optuna's tables this moment; it opens them again if so)
            return optuna.load_study(study_name=STUDY, storage=open_storage(pg_url))
        except KeyError:
            return None

    study = wait_for(load, 120, "kopt tune to create the study")
    # the array job exactly as docs/scaling.md shows it (python -m kopt: this checkout's kopt)
    worker = f"{sys.executable} -m kopt worker tuner.storage={pg_url} tuner.study_name={STUDY}"
    job = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--array=0-1",
            "--cpus-per-task=1",
            "--mem=1G",
            f"--output={tmp_path}/worker_%a.out",
            "--wrap",
            worker,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert job.returncode == 0, job.stderr

    def a_task_running_a_trial():
        # a trial still in its first epoch (its 6 epochs and its test-set evaluation ahead): SIGTERM
        # travels through slurmctld and slurmd before it lands
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            task = array_task_of((t.user_attrs.get("worker") or {}).get("pid", 0))
            if task and t.params and not t.intermediate_values:
                return t, task
        return None

    victim, task = wait_for(a_task_running_a_trial, 180, "an array task to run a trial")
    slurm_cluster.run("scancel", task)  # as a user does: SIGTERM, then SIGKILL after KillWait
    tune_out = tune.communicate(timeout=300)[0]
    assert tune.returncode == 0, tune_out
    slurm_cluster.wait_jobs(120)
    outputs = {p.name: p.read_text() for p in tmp_path.glob("worker_*.out")}

    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == N_TRIALS, ([(t.number, t.state.name) for t in trials], outputs)
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    # distinct parameters: every process drew from its own sampler stream
    assert len({t.params["optimizer.lr"] for t in finished}) == N_TRIALS
    # the array's workers took part: at least one besides the cancelled one finished trials
    assert len(outputs) == 2, outputs
    assert (
        sum(": COMPLETE" in out for name, out in outputs.items() if name != f"worker_{task.split('_')[1]}.out") >= 1
    ), outputs
    # the cancelled task's trial is FAIL "interrupted (SIGTERM)" and run again exactly once. (Twice in about
    # ten clean-clone runs it ended COMPLETE: the SIGTERM landed while the worker's first trial imported
    # TensorFlow, the import swallowed it, and the trial trained on; kopt.training.run now stops there.)
    victim = study.trials[victim.number]
    assert victim.state.name == "FAIL" and victim.user_attrs.get("fail_reason") == "interrupted (SIGTERM)", (
        victim.state.name,
        victim.user_attrs,
    )
    redone = [t for t in finished if t.params == victim.params]
    assert len(redone) == 1, ([(t.number, t.state.name, t.params) for t in trials], outputs)


# -- kopt slurm: the sbatch script for workers ----------------------------------------------------


def test_kopt_slurm_writes_a_worker_script_that_sbatch_runs(slurm_cluster, tmp_path):
    missing = tmp_path / "no-such-journal.log"  # the workers start, find no study and say so in one line
    proc = run_kopt(
        "slurm",
        f"tuner.storage={missing}",
        "tuner.study_name=digits",
        "--array",
        "2",
        "--time",
        "00:05:00",
        "--cpus-per-task",
        "1",
        "--mem",
        "1G",
        "--activate",
        "none",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = tmp_path / "kopt-worker-digits.sbatch"
    text = script.read_text()
    assert "#SBATCH --array=0-1\n" in text and "#SBATCH --gres" not in text
    assert f"exec kopt worker tuner.storage={missing} tuner.study_name=digits\n" in text
    # the environment to activate: here, a script that puts this checkout's kopt on PATH
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kopt").write_text(f'#!/bin/sh\nexec {sys.executable} -m kopt "$@"\n')
    (bindir / "kopt").chmod(0o755)
    (tmp_path / "activate").write_text(f"export PATH={bindir}:$PATH\n")
    proc = run_kopt(
        "slurm",
        f"tuner.storage={missing}",
        "tuner.study_name=digits",
        "--array",
        "2",
        "--time",
        "00:05:00",
        "--cpus-per-task",
        "1",
        "--mem",
        "1G",
        "--activate",
        "activate",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"source {tmp_path / 'activate'}\n" in script.read_text()

    job = slurm_cluster.run("sbatch", "--parsable", str(script)).stdout.strip()
    slurm_cluster.wait_jobs(120)
    logs = sorted((tmp_path / "runs" / "tune" / "digits" / "slurm").glob("*.out"))
    assert [p.name for p in logs] == [f"{job}_0.out", f"{job}_1.out"]
    for log in logs:
        lines = log.read_text().splitlines()
        assert lines and lines[-1].startswith("kopt: error: tuner.storage=") and "no such journal file" in lines[-1], (
            lines
        )


def test_kopt_slurm_bad_values_are_one_line(tmp_path):
    from conftest import assert_clean_error

    proc = run_kopt("slurm", "tuner.storage=x", "tuner.study_name=s", "--time", "4h", cwd=tmp_path)
    assert_clean_error(proc, "--time", "HH:MM:SS")
    proc = run_kopt("slurm", "tuner.storage=x", cwd=tmp_path)
    assert_clean_error(proc, "tuner.study_name")
    assert not list(tmp_path.iterdir())
