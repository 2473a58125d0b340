"""``kopt train``: a Hydra app that trains one config (or one per multirun job)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from kopt.compose import compose_and_validate, split_argv
from kopt.errors import KoptError, RunFailed, fail
from kopt.hydra_app import run_hydra_app
from kopt.training.distribute import scratch_run_dir
from kopt.validate import validate_train

_failures: list[str] = []
# `-m ... resume=true`: completed jobs are skipped, the others resumed. An environment variable,
# so that jobs run by a launcher in other processes (joblib, Slurm) know it too.
RESUME_SWEEP = "KOPT_RESUME_SWEEP"


def task(cfg) -> dict | None:
    from hydra.core.hydra_config import HydraConfig

    from kopt.sweep import record_status, split_threads
    from kopt.training.run import run_from_hydra  # TensorFlow loads here, once a run starts

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode.name == "MULTIRUN"
    if multirun:
        split_threads(cfg, hydra_cfg)
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        if os.environ.get(RESUME_SWEEP) == "1":
            from kopt.resume import resume_job

            return resume_job(cfg, run_dir, hydra_cfg.job.num)
        return run_from_hydra(cfg)
    except KeyboardInterrupt:
        record_status(cfg, run_dir, "interrupted", "SIGINT")  # e.g. while TensorFlow was still loading
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
    record_status(cfg, run_dir, "failed", error)
    _failures.append(f"job {hydra_cfg.job.num}: {error}")
    print(f"kopt: job {hydra_cfg.job.num} failed: {error}", file=sys.stderr)
    return None


def main(argv: list[str]) -> None:
    from kopt import sweep

    given = split_argv(argv)
    sweep.check_launcher(given.overrides, given.multirun and not given.print_only)
    line, cfgs = compose_and_validate(argv, "config", validators=[validate_train])
    if not line.print_only:
        from kopt import resume

        target = resume.requested(cfgs)
        if target is not None and not line.multirun:
            resume.resume_run(target, line)
            return
        os.environ.pop(RESUME_SWEEP, None)
        if target is not None:
            argv = resume.prepare_sweep(target, line, cfgs, argv)
            os.environ[RESUME_SWEEP] = "1"
    if not line.print_only:
        from kopt.data.datasets import check_files_content

        check_files_content(cfgs)  # a wrong npz or csv: one line before any run dir is created
    scratch = scratch_run_dir(cfgs, line.multirun)  # a multi-worker non-chief writes nothing under runs/
    if scratch:
        argv = [*argv, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]
    elif not line.print_only:
        from kopt.rundir import check_writable

        check_writable(line.output_dir)  # a read-only or full disk fails here, before any training
    try:
        run_hydra_app(task, argv, "config", "kopt train")
    except KeyboardInterrupt:
        if line.multirun and sweep.current.get("sweep_dir") and not sweep.current.get("done"):
            sweep.write_sweep_summary(sweep.current["sweep_dir"])  # what ran so far, the rest marked as such
        if line.multirun:
            print("kopt: to finish the sweep, run the same command again with resume=true", file=sys.stderr)
        raise
    finally:
        os.environ.pop(RESUME_SWEEP, None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    failed = sweep.current.get("failed") if sweep.current.get("done") else None
    if failed:  # jobs in other processes (joblib, slurm) are known from their run dirs
        raise RunFailed(f"{len(failed)} job(s) failed: "
                        + "; ".join(f"job {f['job']}: {f['error'] or f['status']}" for f in failed))
    if _failures:
        raise RunFailed(f"{len(_failures)} job(s) failed: " + "; ".join(_failures))
