"""``kopt train``: a Hydra app that trains one config (or one per multirun job)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from kopt.compose import compose_and_validate, print_job_config, split_argv
from kopt.custom_argv import open_custom_keys
from kopt.errors import KoptError, RunFailed, fail
from kopt.hydra_app import run_hydra_app
from kopt.training.distribute import scratch_run_dir
from kopt.validate import validate_train

# `-m ... resume=true`: completed jobs are skipped, the others resumed. An environment variable,
# so that jobs run by a launcher in other processes (joblib, Slurm) know it too.
RESUME_SWEEP = "KOPT_RESUME_SWEEP"


def train_task(failures: list[str]):
    """The Hydra task that trains one job; a failed job of a multirun is put in ``failures``, so
    that the sweep goes on and the command ends failed once every job has run."""

    def task(cfg) -> dict | None:
        return run_job(cfg, failures)

    return task


def run_job(cfg, failures: list[str]) -> dict | None:
    from hydra.core.hydra_config import HydraConfig

    from kopt.resume import claim_run
    from kopt.rundir import FAILED, INTERRUPTED, SUMMARY
    from kopt.sweep import record_status, split_threads

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode.name == "MULTIRUN"
    if multirun and split_threads(cfg, hydra_cfg):  # parallel jobs share the terminal: say whose line it is
        from kopt.console import console

        console.prefix = f"[job {hydra_cfg.job.num}] "
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if os.environ.get(RESUME_SWEEP) != "1" and not (run_dir / SUMMARY).exists():
        claim_run(run_dir, {}, int(cfg.get("seed", 0)))  # `resume=` of this dir is refused from now on
    from kopt.training.run import run_from_hydra  # TensorFlow loads here, once a run starts

    try:
        if os.environ.get(RESUME_SWEEP) == "1":
            from kopt.resume import resume_job

            return resume_job(cfg, run_dir, hydra_cfg.job.num)
        return run_from_hydra(cfg, titled=not multirun)  # main() printed the title line of a single run
    except KeyboardInterrupt as exc:  # e.g. while TensorFlow was still loading
        from kopt.training.signals import NAMES

        record_status(cfg, run_dir, INTERRUPTED, NAMES.get(getattr(exc, "exit_code", 130) - 128, "SIGINT"))
        raise
    except (KoptError, RunFailed) as exc:
        if not multirun:
            fail(str(exc), exc.exit_code)  # SystemExit passes through Hydra's own error report
        error = str(exc)
    except Exception as exc:
        if not multirun:
            raise
        error = f"{type(exc).__name__}: {exc}"
    # one failed job must not stop the sweep: it is recorded in its run dir (and in sweep.csv)
    record_status(cfg, run_dir, FAILED, error)
    failures.append(f"job {hydra_cfg.job.num}: {error}")
    print(f"kopt: job {hydra_cfg.job.num} failed: {error}", file=sys.stderr)
    return None


def train_help(argv: list[str]) -> None:
    """Print Hydra's --help, less the groups that only kopt tune takes (they share configs/)."""
    import contextlib
    import io

    from kopt.tune.planning.plan import TUNE_KEYS

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            run_hydra_app(train_task([]), argv, "config", "kopt train")
    finally:  # (Hydra exits after printing its help)
        head, sep, rest = out.getvalue().partition("== Config groups ==")
        groups, sep2, tail = rest.partition("== Config ==")
        kept = [line for line in groups.split("\n") if line.split(":", 1)[0] not in TUNE_KEYS]
        sys.stdout.write(head + sep + "\n".join(kept) + sep2 + tail)
        sys.stdout.flush()


def main(argv: list[str]) -> None:
    from kopt import sweep
    from kopt.tune.results.best import expand_best

    argv = expand_best(argv)  # --config-name best (a study's best.yaml): your overrides apply on top
    argv = open_custom_keys(argv)  # model=custom: keys of your own without `+`
    given = split_argv(argv)
    sweep.check_launcher(given.overrides, given.multirun and not given.print_only)
    line, cfgs = compose_and_validate(argv, "config", validators=[validate_train])
    if print_job_config(line, cfgs[0] if cfgs else None):
        return
    sweep_dir: Path | None = None  # the folder of this command's sweep (-m), chosen here, pinned for Hydra
    if not line.print_only:
        from kopt import resume

        target = resume.requested(cfgs)
        if target is not None and not line.multirun:
            resume.resume_run(target, line)
            return
        os.environ.pop(RESUME_SWEEP, None)
        if target is not None:
            argv, sweep_dir = resume.prepare_sweep(target, line, cfgs, argv)
            os.environ[RESUME_SWEEP] = "1"
    if cfgs and not line.print_only and not line.multirun:
        from kopt.console import header
        from kopt.training.run import header_items

        header("kopt train", header_items(cfgs[0]))  # the first line, a second before Hydra starts the run
    if not line.print_only:
        from kopt.data.datasets import check_files_content

        check_files_content(cfgs)  # a wrong npz or csv: one line before any run dir is created
        from kopt.training.preflight import check_runs

        if not {"--help", "-h"} & set(line.flags):
            check_runs(cfgs, line.multirun)  # no GPU for mixed_float16, accumulate past the run's batches: the same
    scratch = scratch_run_dir(cfgs, line.multirun)  # a multi-worker non-chief writes nothing under runs/
    if scratch:
        argv = [*argv, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]
    elif not line.print_only:
        from kopt.resume import check_fresh_output
        from kopt.rundir import check_writable

        if os.environ.get(RESUME_SWEEP) != "1":
            check_fresh_output(line)  # never into a dir that holds another run: resume= continues one
        check_writable(line.output_dir)  # a read-only or full disk fails here, before any training
    if {"--help", "-h"} & set(line.flags):
        train_help(argv)
        return
    if line.multirun and not line.print_only and sweep_dir is None and line.output_dir is not None:
        sweep_dir = line.output_dir  # the folder checked above (a ${now:...} resolved once)
        argv = [*argv, sweep.pin_sweep_dir(sweep_dir)]
    failures: list[str] = []
    try:
        run_hydra_app(train_task(failures), argv, "config", "kopt train", mode=line.hydra_mode, composed=line.composed)
    except KeyboardInterrupt as exc:
        if sweep_dir is not None:
            sweep.write_sweep_summary(sweep_dir)  # what ran so far, the rest marked as such
        if line.multirun and getattr(exc, "exit_code", 130) != 141:  # (141: stdout closed, quietly)
            print("kopt: to finish the sweep, run the same command again with resume=true", file=sys.stderr)
        raise
    finally:
        os.environ.pop(RESUME_SWEEP, None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    failed = sweep.failed_jobs(sweep_dir) if sweep_dir is not None else None
    if failed:  # jobs in other processes (joblib, slurm) are known from their run dirs
        raise RunFailed(
            f"{len(failed)} job(s) failed: " + "; ".join(f"job {f['job']}: {f['error'] or f['status']}" for f in failed)
        )
    if failures:
        raise RunFailed(f"{len(failures)} job(s) failed: " + "; ".join(failures))
