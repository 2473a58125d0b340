"""Trials per hour with 1 and 2 ``kopt tune`` workers on the same study (tiny trials).

Each configuration runs ``kopt tune ... tuner.n_workers=W`` as a user would, alternately, and
trials/hour is counted from the storage: finished trials / (last finish - first start), so
process start-up is left out. Target: 2 workers >= 1.7x the trials/hour of 1.

    python benchmarks/workers.py                       # 12 trials, 2 rounds
    python benchmarks/workers.py --quick               # 6 trials, 1 round
    python benchmarks/workers.py --storage sqlite:///s.db --workers 1 2 4
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import parser, target, write_result
from tune_common import ROOT, md_table

TINY = ["dataset=synthetic", "dataset.size=400", "model=mlp", "model.width=32", "model.depth=2",
        "trainer.epochs=3", "trainer.batch_size=32"]
SEARCH = ["search.model.width=int(interval(16, 64))", "search.optimizer.lr=tag(log, interval(1e-3, 1e-1))"]


def run(workers: int, trials: int, storage: str | None, name: str, workdir: Path) -> dict:
    import optuna

    from kopt.tune.study import open_storage, storage_spec

    args = [sys.executable, "-m", "kopt", "tune", *TINY, "tuner=random", f"tuner.n_trials={trials}",
            f"tuner.n_workers={workers}", f"tuner.study_name={name}", "pruner=none", "tuner.retrain_best=false",
            "tuner.plots=false", *SEARCH]
    if storage:
        args.append(f"tuner.storage={storage}")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    t0, cpu0 = time.time(), _children_cpu()
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True)
    wall, cpu = time.time() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"kopt tune failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    spec = storage_spec(storage, workdir / "runs" / "tune" / name)
    trials_ = optuna.load_study(study_name=name, storage=open_storage(spec)).trials
    done = [t for t in trials_ if t.state.name == "COMPLETE"]
    span = max(t.datetime_complete for t in done).timestamp() - min(t.datetime_start for t in done).timestamp()
    # CPU seconds the whole command used (all its processes) over its wall time: how many cores it got
    return {"workers": workers, "trials": len(done), "span_s": span, "wall_s": wall, "cpu_s": cpu,
            "cores_used": cpu / wall, "trials_per_hour": len(done) / span * 3600, "loadavg": list(os.getloadavg())}


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--storage", default=None, help="an Optuna storage URL (default: a journal file)")
    args = p.parse_args()
    trials = args.trials or (6 if args.quick else 12)
    rounds = args.rounds or (1 if args.quick else 2)
    workdir = Path(tempfile.mkdtemp(prefix="kopt-workers-"))
    runs = []
    try:
        for r in range(rounds):
            for w in args.workers:  # alternate, so that a change in machine load hits every setting
                row = run(w, trials, args.storage, f"w{w}-r{r}", workdir)
                print(row, flush=True)
                runs.append(row)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    best = {w: max(r["trials_per_hour"] for r in runs if r["workers"] == w) for w in args.workers}
    mean = {w: sum(r["trials_per_hour"] for r in runs if r["workers"] == w) / rounds for w in args.workers}
    base = args.workers[0]
    ratios = {w: mean[w] / mean[base] for w in args.workers}
    cpus = len(os.sched_getaffinity(0))
    storage = args.storage.split("://")[0] + "://..." if args.storage else "journal file"
    targets = [target(f"{w} workers / {base} worker: trials per hour ({storage})", round(ratios[w], 3),
                      ">= 1.7" if w == 2 else "(info)", ratios[w] >= 1.7 if w == 2 else None)
               for w in args.workers if w != base]
    cores = {w: sum(r["cores_used"] for r in runs if r["workers"] == w) / rounds for w in args.workers}
    rows = [[w, mean[w], best[w], ratios[w], cores[w]] for w in args.workers]
    notes = (f"{trials} tiny trials per run, {rounds} round(s), {cpus} CPUs, storage: {storage}; load average "
             f"during the runs {[round(r['loadavg'][0], 1) for r in runs]}.\n\n"
             + md_table(["workers", "trials/hour (mean)", "trials/hour (best)", "ratio (mean)", "cores used (mean)"], rows)
             + "\n\nCores used = CPU seconds of the whole `kopt tune` command / its wall time: on a machine shared "
               "with other jobs a second worker only helps if the command gets more CPU.")
    write_result("workers", args.out, args.quick, targets, trials=trials, rounds=rounds, cpus=cpus, storage=storage,
                 runs=runs, mean_trials_per_hour=mean, mean_cores_used=cores, notes=notes)


if __name__ == "__main__":
    main()
