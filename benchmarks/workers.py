"""Trials per hour with 1, 2 and 4 ``kopt tune`` workers on the same study (tiny trials), on a
journal file and on PostgreSQL.

Each configuration runs ``kopt tune ... tuner.n_workers=W`` as a user would, alternately, and
trials/hour is counted from the storage: finished trials / (last finish - first start), so
process start-up is left out. Target (issue 21): 2 workers >= 1.9x the trials/hour of 1.

``postgresql`` starts a throwaway server on 127.0.0.1 (tests/pgserver.py: initdb + pg_ctl into a
temp dir) and gives each run a fresh database; it is reported as not measured where no
PostgreSQL binaries exist. ``slurm`` runs the W processes as the W tasks of a SLURM array job on
a throwaway one-node cluster (tests/slurmcluster.py) and a PostgreSQL study: task 0 is the
``kopt tune`` that creates the study, the others ``kopt worker`` (started again until the study
exists); not measured where SLURM or PostgreSQL cannot run. Any other value is used as the
storage URL.

    python benchmarks/workers.py                       # 12 trials, 2 rounds, journal + postgresql
    python benchmarks/workers.py --quick               # 6 trials, 1 round
    python benchmarks/workers.py --storages journal --workers 1 2
    python benchmarks/workers.py --quick --storages slurm --workers 1 2   # 1 array task vs 2
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from common import parser, target, write_result
from tune_common import ROOT, md_table

sys.path.insert(0, str(ROOT / "tests"))
from pgserver import NoServer, throwaway_server
from slurmcluster import NoCluster, throwaway_cluster

TINY = [
    "dataset=synthetic",
    "dataset.size=400",
    "model=mlp",
    "model.width=32",
    "model.depth=2",
    "trainer.epochs=3",
    "trainer.batch_size=32",
]
SEARCH = ["search.model.width=int(interval(16, 64))", "search.optimizer.lr=tag(log, interval(1e-3, 1e-1))"]


def run(workers: int, trials: int, storage: str | None, name: str, workdir: Path, cluster=None) -> dict:
    import optuna

    from kopt.tune.store.storage import open_storage, storage_spec

    args = [
        sys.executable,
        "-m",
        "kopt",
        "tune",
        *TINY,
        "tuner=random",
        f"tuner.n_trials={trials}",
        f"tuner.n_workers={1 if cluster else workers}",
        f"tuner.study_name={name}",
        "pruner=none",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        *SEARCH,
    ]
    if storage:
        args.append(f"tuner.storage={storage}")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    if cluster is not None:  # W array tasks: task 0 the kopt tune, the others kopt worker once the study exists
        env["SLURM_CONF"] = str(cluster.conf)
        worker = " ".join(
            [sys.executable, "-m", "kopt", "worker", f"tuner.storage={storage}", f"tuner.study_name={name}"]
        )
        tune = " ".join(shlex.quote(a) for a in args)
        script = (
            f'if [ "$SLURM_ARRAY_TASK_ID" = 0 ]; then exec {tune}; fi\n'
            f"for i in $(seq 120); do {worker} && exit 0; sleep 1; done; exit 1\n"
        )
        args = [
            "sbatch",
            "--wait",
            f"--array=0-{workers - 1}",
            f"--cpus-per-task={max(1, cluster.cpus // workers)}",
            f"--output={workdir}/{name}_%a.out",
            "--wrap",
            script,
        ]
    t0, cpu0 = time.time(), _children_cpu()
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True)
    wall, cpu = time.time() - t0, _children_cpu() - cpu0
    if cluster is not None:
        cpu = None  # the tasks are slurmd's children, not ours: not counted
    if proc.returncode != 0:
        raise SystemExit(f"kopt tune failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    spec = storage_spec(storage, workdir / "runs" / "tune" / name)
    trials_ = optuna.load_study(study_name=name, storage=open_storage(spec)).trials
    done = [t for t in trials_ if t.state.name == "COMPLETE"]
    span = max(t.datetime_complete for t in done).timestamp() - min(t.datetime_start for t in done).timestamp()
    # CPU seconds the whole command used (all its processes) over its wall time: how many cores it got
    return {
        "workers": workers,
        "trials": len(done),
        "span_s": span,
        "wall_s": wall,
        "cpu_s": cpu,
        "cores_used": None if cpu is None else cpu / wall,
        "trials_per_hour": len(done) / span * 3600,
        "loadavg": list(os.getloadavg()),
        "timeline": breakdown(workdir / "runs" / "tune" / name, done),
    }


def breakdown(study_dir: Path, done: list) -> dict:
    """Where each worker's seconds went: its ``workers/<i>.timeline`` (kopt.tune.running.timeline)
    and its trials in the storage. Times are seconds after the parent started the workers (``at``)
    or durations (``_s``; ``_cpu_s`` the process's own CPU seconds in that phase)."""
    from kopt.tune.running.timeline import read_timeline

    first = min(t.datetime_start.timestamp() for t in done)
    last = max(t.datetime_complete.timestamp() for t in done)
    by_pid: dict = {}
    for t in done:
        by_pid.setdefault(t.user_attrs.get("worker", {}).get("pid"), []).append(t)
    out: dict = {"per_pid": {}}
    for pid, ts in by_pid.items():  # from the storage alone: also for one worker (the parent itself)
        busy = sum(t.datetime_complete.timestamp() - t.datetime_start.timestamp() for t in ts)
        starts = min(t.datetime_start.timestamp() for t in ts)
        ends = max(t.datetime_complete.timestamp() for t in ts)
        out["per_pid"][str(pid)] = {
            "trials": len(ts),
            "late_s": round(starts - first, 3),  # its first trial started this long after the study's first
            "busy_s": round(busy, 3),  # in trials (storage start to complete)
            "gaps_s": round(ends - starts - busy, 3),  # between its trials
            "idle_end_s": round(last - ends, 3),  # its last trial ended this long before the study's last
        }
    parent = read_timeline(study_dir / "workers" / "parent.timeline")
    if not parent:
        return out
    begin = parent[0]
    out["parent"] = {
        "started_workers_at_s": round(begin["t"] - (begin.get("proc_start") or begin["t"]), 3),
        "cpu_before_workers_s": begin["cpu"],
        **{k: v for e in parent if e["event"] == "watch" for k, v in e.items() if k in ("polls", "wall_s", "cpu_s")},
    }
    spawned = {e["worker"]: e["t"] for e in parent if e["event"] == "spawn"}
    for i in sorted(spawned):
        events = read_timeline(study_dir / "workers" / f"{i}.timeline")
        at = {e["event"]: e for e in events if e["event"] in ("start", "joined", "tensorflow", "done", "exit")}
        trials = [e for e in events if e["event"] == "trial"]
        if not {"start", "joined", "tensorflow"} <= set(at) or not trials:
            continue
        start = at["start"]
        row = {
            "spawned_at": round(spawned[i] - begin["t"], 3),
            "python_s": round(start["t"] - (start.get("proc_start") or start["t"]), 3),
            "python_cpu_s": start["cpu"],
            "join_s": round(at["joined"]["t"] - start["t"], 3),
            "join_cpu_s": round(at["joined"]["cpu"] - start["cpu"], 3),
            "tensorflow_s": round(at["tensorflow"]["t"] - at["joined"]["t"], 3),
            "tensorflow_cpu_s": round(at["tensorflow"]["cpu"] - at["joined"]["cpu"], 3),
            "first_training_at": round(trials[0]["t"] - trials[0]["finish_s"] - trials[0]["run_s"] - begin["t"], 3),
            "trials": len(trials),
        }
        for key in ("wait_s", "held_s", "setup_s", "run_s", "run_cpu_s", "finish_s"):
            row[key] = round(sum(e[key] for e in trials), 3)
        row["first_run_s"] = trials[0]["run_s"]
        if "done" in at:
            row["last_claim_s"] = round(at["done"]["wait_s"] + at["done"]["held_s"], 3)
        if "exit" in at:
            row["ended_at"] = round(at["exit"]["t"] - begin["t"], 3)
            row["cpu_s"] = at["exit"]["cpu"]
        row["span_from_at"] = round(first - begin["t"], 3)
        row["span_to_at"] = round(last - begin["t"], 3)
        out[f"worker{i}"] = row
    return out


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(storage: str, workers: list[int], trials: int, rounds: int, workdir: Path, stack: ExitStack) -> list[dict]:
    """The runs of one storage ("journal", "postgresql" or a URL), the worker counts alternating."""
    server = stack.enter_context(throwaway_server()) if storage in ("postgresql", "slurm") else None
    cluster = stack.enter_context(throwaway_cluster()) if storage == "slurm" else None
    runs = []
    for r in range(rounds):
        for w in workers:  # alternate, so that a change in machine load hits every setting
            url = server.create_database() if server else (None if storage == "journal" else storage)
            row = run(w, trials, url, f"{storage.split(':')[0]}-w{w}-r{r}", workdir, cluster)
            row["storage"] = storage if storage in ("journal", "postgresql", "slurm") else storage.split("://")[0]
            print(row, flush=True)
            runs.append(row)
    return runs


def summarise(storage: str, runs: list[dict], workers: list[int], rounds: int) -> tuple[list[dict], str]:
    mean = {w: sum(r["trials_per_hour"] for r in runs if r["workers"] == w) / rounds for w in workers}
    best = {w: max(r["trials_per_hour"] for r in runs if r["workers"] == w) for w in workers}
    cores = {
        w: None
        if any(r["cores_used"] is None for r in runs)
        else sum(r["cores_used"] for r in runs if r["workers"] == w) / rounds
        for w in workers
    }
    base = workers[0]
    ratios = {w: mean[w] / mean[base] for w in workers}
    targets = [
        target(
            f"{w} workers / {base} worker: trials per hour ({storage})",
            round(ratios[w], 3),
            ">= 1.9" if w == 2 else "(info)",
            ratios[w] >= 1.9 if w == 2 else None,
        )
        for w in workers
        if w != base
    ]
    targets.append(target(f"trials per hour, {base} worker ({storage})", round(mean[base]), "(info)", None, unit="/h"))
    rows = [[w, mean[w], best[w], ratios[w], cores[w]] for w in workers]
    table = f"**{storage}** (load average during the runs {[round(r['loadavg'][0], 1) for r in runs]}):\n\n" + md_table(
        ["workers", "trials/hour (mean)", "trials/hour (best)", "ratio (mean)", "cores used (mean)"], rows
    )
    return targets, table


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=None,
        help="worker counts (default 1, 2, 4, as many as tuner.n_workers allows: the usable cores)",
    )
    p.add_argument(
        "--storages",
        nargs="+",
        default=["journal", "postgresql"],
        help="journal (a journal file), postgresql (a throwaway server), slurm (array tasks on a "
        "throwaway cluster, PostgreSQL study) or an Optuna storage URL",
    )
    args = p.parse_args()
    from kopt.procs import usable_cores

    args.workers = args.workers or [w for w in (1, 2, 4) if w <= usable_cores()]
    trials = args.trials or (6 if args.quick else 12)
    rounds = args.rounds or (1 if args.quick else 2)
    workdir = Path(tempfile.mkdtemp(prefix="kopt-workers-"))
    cpus = len(os.sched_getaffinity(0))
    targets, tables, runs = [], [], []
    try:
        for storage in args.storages:
            with ExitStack() as stack:
                try:
                    got = measure(storage, args.workers, trials, rounds, workdir, stack)
                except (NoServer, NoCluster) as exc:
                    where = "SLURM and PostgreSQL run" if storage == "slurm" else "PostgreSQL runs"
                    targets.append(target(f"trials per hour ({storage})", None, f"(measured where {where})", None))
                    tables.append(f"**{storage}**: not measured: {exc}.")
                    continue
            runs += got
            more, table = summarise(storage, got, args.workers, rounds)
            targets += more
            tables.append(table)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    notes = (
        f"{trials} tiny trials per run, {rounds} round(s), {cpus} CPUs.\n\n"
        + "\n\n".join(tables)
        + "\n\nCores used = CPU seconds of the whole `kopt tune` command / its wall time: on a machine shared "
        "with other jobs, or with fewer cores than workers, more workers only help if the command gets more CPU. "
        "Each run's `timeline` (workers/<i>.timeline) says where each worker's wall and CPU seconds went."
    )
    write_result(
        "workers",
        args.out,
        args.quick,
        targets,
        trials=trials,
        rounds=rounds,
        cpus=cpus,
        storages=args.storages,
        runs=runs,
        notes=notes,
    )


if __name__ == "__main__":
    main()
