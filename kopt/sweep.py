"""Multirun sweeps: the summary written at the end, and TensorFlow threads for parallel jobs.

:class:`SweepSummary` is a Hydra callback (registered under ``hydra.callbacks`` in
configs/config.yaml). Hydra calls it in the launching process once every job has returned,
whatever the launcher (basic, joblib, submitit), so it reads the jobs' run dirs from disk.

``kopt train -m`` knows its sweep dir before Hydra starts (it chose it when it validated the jobs,
and passes it to Hydra with :func:`pin_sweep_dir`): it reads the failed jobs from there
(:func:`failed_jobs`) and writes the summary of an interrupted sweep itself. Nothing is kept in
this module between calls.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from kopt.rundir import atomic_write_json, atomic_write_text

log = logging.getLogger("kopt")
SWEEP_CSV, SWEEP_JSON = "sweep.csv", "sweep.json"


def pin_sweep_dir(sweep_dir: Path) -> str:
    """The override that makes Hydra write the sweep into ``sweep_dir`` (a configured
    ``${now:...}`` resolved once, by kopt, so that kopt and Hydra name the same folder); relative
    to the working folder when it is inside it, as Hydra shows a sweep dir configured so."""
    try:
        where = str(Path(sweep_dir).relative_to(Path.cwd()))
    except ValueError:
        where = str(sweep_dir)
    quote = "'" if "'" not in where else '"'
    return f"hydra.sweep.dir={quote}{where}{quote}"


def _records(sweep_dir: Path) -> list:
    from kopt.report.collect import find_run_dirs, read_record

    sweep_dir = Path(sweep_dir)
    return [read_record(d) for d in find_run_dirs([sweep_dir])] if sweep_dir.is_dir() else []


def failed_jobs(sweep_dir: Path) -> list[dict]:
    """The jobs of the sweep in ``sweep_dir`` that did not complete (as sweep.json lists them)."""
    return [_failed_row(r, Path(sweep_dir)) for r in _records(sweep_dir) if not r.completed]


def _failed_row(rec, sweep_dir: Path) -> dict:
    return {"job": str(rec.path.relative_to(sweep_dir)), "status": rec.status, "error": rec.error}


def write_sweep_summary(sweep_dir: Path, quiet: bool = False) -> dict:
    """Write sweep.csv and sweep.json (one row per job) and print the grouped table."""
    from kopt.console import console
    from kopt.report.collect import varying_keys
    from kopt.report.table import group_records, groups_table, runs_table, show, to_csv

    sweep_dir = Path(sweep_dir)
    records = _records(sweep_dir)
    all_keys: list[str] = []
    for rec in records:
        all_keys.extend(k for k in rec.keys if k not in all_keys)
    group_keys = varying_keys(records, include_seed=False)
    rows = []
    for rec in records:
        row = rec.row(all_keys)
        del row["run"]
        rows.append({"job": str(rec.path.relative_to(sweep_dir)), **row})
    groups = group_records(records, group_keys)
    failed = [r for r in records if not r.completed]
    result = {
        "sweep_dir": str(sweep_dir),
        "jobs": rows,
        "group_by": group_keys,
        "groups": [g.row(group_keys) for g in groups],
        "failed": [_failed_row(r, sweep_dir) for r in failed],
    }
    if records:
        atomic_write_text(sweep_dir / SWEEP_CSV, to_csv(rows))
        atomic_write_json(sweep_dir / SWEEP_JSON, result)
    if not quiet and records:
        if failed:
            show(runs_table(failed, varying_keys(records), title="jobs that did not complete"))
        by = ", ".join(group_keys) if group_keys else "nothing (only seeds vary)"
        show(groups_table(groups, group_keys, title=f"sweep: {len(records)} job(s), grouped by {by}"))
        console.print(f"[dim]sweep summary: {sweep_dir / SWEEP_CSV}, {sweep_dir / SWEEP_JSON}[/]")
    return result


class SweepSummary(Callback):
    """Writes the summary of a sweep whose jobs have all returned (no state between calls)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_sweep_summary(Path(str(config.hydra.sweep.dir)))


def record_status(cfg: DictConfig, run_dir: Path, status: str, error: str) -> None:
    """Make sure a job's summary.json says it failed or was interrupted, even when that happened
    before training started (no summary yet)."""
    from kopt.rundir import record_outcome

    record_outcome(run_dir, status, error, int(cfg.get("seed", 0)))


LAUNCHER_NEEDS = {  # launcher option -> (plugin module, pip extra, program it needs on PATH)
    "joblib": ("hydra_plugins.hydra_joblib_launcher", "joblib", None),
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm", "srun"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm", "srun"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "slurm", None),
}


def check_launcher(overrides: list[str], multirun: bool) -> None:
    """A launcher that cannot work here fails in one line before anything is written."""
    import importlib.util
    import shutil

    from kopt.errors import KoptError, install_hint

    for text in overrides:
        key, _, value = text.partition("=")
        if key.lstrip("+") != "hydra/launcher" or value not in LAUNCHER_NEEDS:
            continue
        module, extra, program = LAUNCHER_NEEDS[value]
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # no hydra_plugins package at all (a plain install): find_spec imports the parent
            found = False
        if not found:
            raise KoptError(f"hydra/launcher={value} needs its Hydra plugin; {install_hint(extra)}")
        if multirun and program and shutil.which(program) is None:
            raise KoptError(
                f"hydra/launcher={value}: '{program}' not found, this is not a Slurm cluster; "
                "submit from a login node, or use hydra/launcher=joblib to run jobs locally"
            )


def _cpu_count() -> int:
    try:
        import joblib

        return max(1, joblib.cpu_count())  # honours affinity and cgroup quotas
    except ImportError:
        from kopt.procs import usable_cores

        return usable_cores()


def parallel_jobs(hydra_cfg) -> int:
    """How many jobs of this sweep run at once on this machine (1 unless the joblib launcher runs them)."""
    launcher = hydra_cfg.get("launcher") or {}
    if "JoblibLauncher" not in str(launcher.get("_target_", "")):
        return 1
    n_jobs = launcher.get("n_jobs")
    if not n_jobs:
        return 1
    n_jobs = int(n_jobs)
    return max(1, _cpu_count() + 1 + n_jobs if n_jobs < 0 else n_jobs)  # joblib: -1 = all cores, -2 = all but one


def split_threads(cfg: DictConfig, hydra_cfg) -> int | None:
    """For parallel local jobs, give each job's TensorFlow its share of the cores (unless set by the user)."""
    n = parallel_jobs(hydra_cfg)
    if n <= 1:
        return None
    threads = max(1, _cpu_count() // n)
    with read_write(cfg), open_dict(cfg):
        if not cfg.trainer.intra_threads:
            cfg.trainer.intra_threads = threads
        if not cfg.trainer.inter_threads:
            cfg.trainer.inter_threads = threads
    log.info(
        "%d parallel jobs on %d cores: TensorFlow intra_threads=%s inter_threads=%s",
        n,
        _cpu_count(),
        cfg.trainer.intra_threads,
        cfg.trainer.inter_threads,
    )
    return threads
