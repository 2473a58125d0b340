"""``kopt slurm``'s script writer and ``hydra/launcher=slurm`` without a cluster: every value that
goes into the sbatch script follows SLURM's grammar, paths are quoted, and what is wrong is one
line. No cluster needed (tests/test_slurm.py runs the scripts on one)."""

from __future__ import annotations

import shlex
import stat

import pytest
from conftest import TINY, assert_clean_error, run_kopt

STUDY = ["tuner.storage=x", "tuner.study_name=s", "--activate", "none"]


def directives(text: str) -> dict[str, list[str]]:
    """Each ``#SBATCH`` line's arguments, split as sbatch splits them (quotes as the shell's)."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH "):
            words = shlex.split(line[len("#SBATCH ") :], comments=True)
            out[words[0].split("=", 1)[0]] = words
    return out


@pytest.mark.parametrize(
    "flag,value,needle",
    [
        ("--partition", "gpu\nrm -rf ~", "--partition"),
        ("--partition", "gpu #x", "--partition"),
        ("--time", "99:99:99", "--time"),
        ("--time", "1-24", "--time"),
        ("--time", "00:60", "--time"),
        ("--time", "04:00:00\n", "--time"),
        ("--mem", "16G\n", "--mem"),
        ("--mem", "16 G", "--mem"),
        ("--chdir", "runs\necho hi", "--chdir"),
    ],
)
def test_a_value_outside_slurms_grammar_is_one_line_and_writes_nothing(tmp_path, flag, value, needle):
    proc = run_kopt("slurm", *STUDY, flag, value, cwd=tmp_path)
    assert_clean_error(proc, needle)
    assert not list(tmp_path.iterdir())


def test_every_slurm_time_form_is_taken():
    from kopt.commands.slurm import slurm_time

    for good in ("0", "30", "1440", "30:15", "90:00", "04:00:00", "48:00:00", "2-12", "2-12:30", "2-12:30:59"):
        assert slurm_time(good) == good
    import argparse

    for bad in ("", "4h", "99:99:99", "1:60:00", "1-24", "1-00:60", "1-00:00:60", "00:00:60", "-1", "1:2:3:4", "1-"):
        with pytest.raises(argparse.ArgumentTypeError, match="SLURM time"):
            slurm_time(bad)


def test_a_chdir_with_a_space_stays_one_directive(tmp_path):
    where = tmp_path / "my runs #1"
    out = tmp_path / "job.sbatch"
    proc = run_kopt("slurm", *STUDY, "--chdir", str(where), "--partition", "gpu,debug", "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = directives(out.read_text())
    assert found["--chdir"] == [f"--chdir={where}"]
    assert found["--output"] == [f"--output={where}/runs/tune/s/slurm/%A_%a.out"]
    assert found["--partition"] == ["--partition=gpu,debug"]
    assert (where / "runs" / "tune" / "s" / "slurm").is_dir()


def test_a_percent_in_chdir_is_not_a_slurm_pattern_in_output(tmp_path):
    where = tmp_path / "100%"
    out = tmp_path / "job.sbatch"
    proc = run_kopt("slurm", *STUDY, "--chdir", str(where), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert directives(out.read_text())["--output"] == [f"--output={tmp_path}/100%%/runs/tune/s/slurm/%A_%a.out"]


def test_chdir_naming_a_file_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = run_kopt("slurm", *STUDY, "--chdir", "afile", cwd=tmp_path)
    assert_clean_error(proc, "--chdir", "not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def fake_slurm(tmp_path):
    """sbatch, srun and squeue on PATH, as on a machine with SLURM's client tools but no cluster."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("sbatch", "srun", "squeue"):
        tool = bindir / name
        tool.write_text(
            "#!/bin/sh\n"
            f'echo "{name}: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host" >&2\n'
            f'echo "{name}: fatal: Could not establish a configuration source" >&2\n'
            "exit 1\n"
        )
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    import os

    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}


def test_the_slurm_launcher_without_a_cluster_is_one_line(tmp_path):
    pytest.importorskip("submitit")
    env = fake_slurm(tmp_path)
    proc = run_kopt("train", "-m", "hydra/launcher=slurm", *TINY, "seed=1,2", cwd=tmp_path, env=env, timeout=120)
    assert_clean_error(proc, "hydra/launcher=slurm", "sbatch", "Could not establish a configuration source")
    assert "res_nsearch" not in proc.stdout + proc.stderr  # sbatch's other lines: not printed once more


@pytest.mark.parametrize(
    "lines, said",
    [
        (
            ["srun: got SIGCONT", "slurmstepd-vm: error: *** JOB 2 ON vm CANCELLED AT 2026-12-07T08:17:03 ***"],
            "*** JOB 2 ON vm CANCELLED AT 2026-12-07T08:17:03 ***",
        ),
        (
            ["slurmstepd: error: *** JOB 41_3 ON node7 CANCELLED AT 2026-12-07T09:00:00 DUE TO TIME LIMIT ***"],
            "*** JOB 41_3 ON node7 CANCELLED AT 2026-12-07T09:00:00 DUE TO TIME LIMIT ***",
        ),
        (["slurmstepd: error: Detected 1 oom_kill event in StepId=5.batch."], "Detected 1 oom_kill event"),
        (["Traceback (most recent call last):", "RuntimeError: CANCELLED AT noon"], None),  # the job's own words
        ([], None),
    ],
)
def test_slurms_own_line_that_it_ended_a_job_is_read_from_the_jobs_log(lines, said, tmp_path):
    """A cluster without accounting: a job out of the queue whose log holds SLURM's line is failed at
    once with that line (tests/test_slurm.py has scancel on a real cluster), not after LOST_AFTER_S."""
    from hydra_plugins.kopt_launcher.slurm_launcher import slurm_ended

    log = tmp_path / "0_log.err"
    log.write_text("x" * 70000 + "\n" + "\n".join(lines) + "\n")  # (past the tail that is read: a long log)
    assert slurm_ended(log) == said
    assert slurm_ended(tmp_path / "missing.err") is None
