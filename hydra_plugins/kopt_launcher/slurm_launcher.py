"""kopt's SLURM launcher (``hydra/launcher=slurm``): hydra-submitit-launcher's, with what a sweep
on a real cluster needs on top:

- a job that SLURM ends without a result (scancel, its time limit, the OOM killer, a lost node) is
  a failed job of the sweep, recorded in its run dir and so in sweep.csv, instead of an exception
  that loses the sweep summary;
- where the cluster keeps no accounting (``sacct`` fails), a job that has left the queue without
  a result is known as lost, instead of waited for forever: at once where its log holds SLURM's
  own line that it ended the job (scancel, the time limit, preemption, the OOM killer), else after
  LOST_AFTER_S (a result file may reach a shared filesystem late);
- ``resume=true`` submits only the jobs that did not complete.

Hydra imports this module when it scans its plugins; submitit is imported only when a sweep is submitted.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _SubmititSlurmLauncher
except ImportError:  # no `slurm` extra: Hydra's plugin scan must still import this module quietly
    _SubmititSlurmLauncher = object

log = logging.getLogger(__name__)
POLL_S = 2.0
LOST_AFTER_S = 15.0  # out of the queue this long and still no result file: the job is lost


# What slurmstepd writes into a job's stderr when SLURM ends it: "*** JOB 12_3 ON node7 CANCELLED AT
# 2026-12-07T08:17:03 DUE TO TIME LIMIT ***" (scancel: no "DUE TO"), or an OOM kill it detected.
SLURM_ENDED = re.compile(
    r"\*\*\* JOB \S+ ON \S+ CANCELLED AT \S+(?: DUE TO [A-Z ]+?)? \*\*\*|Detected \d+ oom[-_]kill event"
)
LOG_TAIL_BYTES = 65536


def slurm_ended(stderr_path) -> str | None:
    """SLURM's last word in a job's stderr that it ended the job, or None (no such line, no log)."""
    try:
        with open(stderr_path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - LOG_TAIL_BYTES))
            text = fh.read().decode(errors="replace")
    except OSError:
        return None
    found = SLURM_ENDED.findall(text)
    return found[-1] if found else None


def _done(job_return: Any, overrides: Sequence[str]) -> JobReturn:
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=job_return)


def _queued(job_ids: list[str]) -> set[str] | None:
    """The jobs among ``job_ids`` still in SLURM's queue (array tasks as <job>_<task>); None when
    squeue cannot tell (the controller busy or down): then nothing is concluded."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return set() if "Invalid job id" in proc.stderr else None
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


class SlurmLauncher(_SubmititSlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from kopt.commands.train import RESUME_SWEEP
        from kopt.rundir import SUMMARY, read_json

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        results: dict[int, JobReturn] = {}
        todo: list[int] = []
        for i, overrides in enumerate(job_overrides):
            summary_path = sweep_dir / str(initial_job_idx + i) / SUMMARY
            if os.environ.get(RESUME_SWEEP) == "1" and summary_path.is_file():
                try:
                    summary = read_json(summary_path)
                except (OSError, ValueError):
                    summary = {}
                if summary.get("status") == "completed":
                    print(f"kopt: job {initial_job_idx + i} is already completed; not submitted", flush=True)
                    results[i] = _done(summary, overrides)
                    continue
            todo.append(i)
        if todo:
            self._submit_and_wait(
                [job_overrides[i] for i in todo], [initial_job_idx + i for i in todo], sweep_dir, results, todo
            )
        return [results[i] for i in range(len(job_overrides))]

    def _submit_and_wait(self, overrides: list, nums: list[int], sweep_dir: Path, results: dict, slots: list[int]):
        """What the parent's launch() does for these jobs (one SLURM array), then wait for each."""
        jobs = self._submit(overrides, nums)
        pending = dict(zip(slots, zip(jobs, nums, overrides)))
        gone: dict[int, float] = {}
        while pending:
            for slot, (job, num, ovr) in list(pending.items()):
                if job.done():
                    results[slot] = self._collect(job, num, ovr, sweep_dir)
                    del pending[slot]
            if not pending:
                break
            queued = _queued([job.job_id for job, _, _ in pending.values()])
            now = time.monotonic()
            for slot, (job, num, ovr) in list(pending.items()):
                if queued is None or job.job_id in queued or job.paths.result_pickle.exists():
                    gone.pop(slot, None)
                    continue
                ended = slurm_ended(job.paths.stderr)  # out of the queue, and SLURM says it ended it
                if ended or now - gone.setdefault(slot, now) > LOST_AFTER_S:
                    what = f"was ended by SLURM ({ended})" if ended else "ended without a result"
                    results[slot] = self._failed(job, num, ovr, sweep_dir, what)
                    del pending[slot]
            time.sleep(POLL_S)

    def _submit(self, overrides: list, nums: list[int]):
        import submitit
        from hydra.core.singleton import Singleton
        from hydra.core.utils import filter_overrides

        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        params = dict(self.params)
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=params.pop("submitit_folder"),
            **{f"{self._EXECUTOR}_max_num_timeout": params.pop("max_num_timeout")}
            if "max_num_timeout" in params
            else {},
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        job_params = []
        for num, ovr in zip(nums, overrides):
            log.info(f"\t#{num} : {' '.join(filter_overrides(ovr))}")
            job_params.append((list(ovr), "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state()))
        import contextlib
        import io

        try:
            with contextlib.redirect_stderr(io.StringIO()):  # submitit prints sbatch's stderr, then raises it
                return executor.map_array(self, *zip(*job_params))
        except (submitit.core.utils.FailedJobError, OSError) as exc:  # sbatch refused, or could not run
            from kopt.errors import fail

            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            fail(
                f"hydra/launcher=slurm: sbatch could not submit the jobs ({lines[-1] if lines else type(exc).__name__}); "
                "is this a Slurm cluster's login node? Or use hydra/launcher=joblib to run jobs locally",
                1,
            )

    def _collect(self, job, num: int, overrides, sweep_dir: Path) -> JobReturn:
        try:
            return _done(job.results()[0], overrides)
        except Exception as exc:  # submitit: the job raised, or SLURM ended it (UncompletedJobError)
            lines = [line for line in str(exc).splitlines() if line.strip()]
            return self._failed(job, num, overrides, sweep_dir, f"failed: {lines[-1] if lines else type(exc).__name__}")

    def _failed(self, job, num: int, overrides, sweep_dir: Path, what: str) -> JobReturn:
        from kopt.rundir import SUMMARY, atomic_write_json, read_json
        from kopt.sweep import record_status

        job_dir = sweep_dir / str(num)
        job_dir.mkdir(parents=True, exist_ok=True)
        config = job_dir / ".hydra" / "config.yaml"
        cfg = OmegaConf.load(config) if config.is_file() else OmegaConf.create({})
        state = job.state if job.state != "UNKNOWN" else "state unknown"
        reason = f"SLURM job {job.job_id} {what} ({state}); its log: {job.paths.stderr}"
        record_status(cfg, job_dir, "failed", reason)
        summary = read_json(job_dir / SUMMARY)
        if reason not in str(summary.get("error")):  # the job's own word (e.g. SIGTERM) first, then SLURM's
            summary["error"] = f"{summary.get('error')}; {reason}"
            atomic_write_json(job_dir / SUMMARY, summary)
        print(f"kopt: job {num}: {reason}", flush=True)
        return _done(None, overrides)
