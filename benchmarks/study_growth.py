"""Cost as a study grows: a 1,000-trial `kopt tune` study of the smallest trial (one epoch of a
16-unit MLP on 200 synthetic rows), run in this process through ``run_study`` as the command runs
it (tuner=bayes: TPE; pruner=median), on the journal file and on PostgreSQL (a throwaway server on
127.0.0.1, tests/pgserver.py), each storage in its own process.

kopt's own time per trial is one turn of the worker loop (from one claim to the next: the claim
lock, the sampler's ask, the trial's config, data and model, its run dir, tell, the kept models,
trials.csv and summary.json, the UI) less Keras' ``fit``. Timers around the loop's parts name
where it goes; RSS is read after each trial. Reported as medians over trials 5-15, 95-105 and
990-1000 (the machine is shared: one trial's time is noise). The study's end (every trial's
curves.png, study.html) is timed apart: it runs once, after the last trial.

By default the trials of those windows are trained and the study is filled up to each window with
finished trials like the last trained one (its parameters' distributions, attributes and run dir
files, a random value; an empty curves.png, so that the end draws only the trained trials'), so
that trial 1,000 runs in a study of 999 trials in minutes. ``--every-trial`` trains all of them.

Targets: trial 1,000's own time <= 1.2x trial 10's; RSS growth <= 1 MiB per trial (between the
medians of the first and last windows).

    python benchmarks/study_growth.py                         # 1,000 trials, journal then postgresql
    python benchmarks/study_growth.py --quick                 # 120 trials
    python benchmarks/study_growth.py --storage journal --every-trial --trials 300
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from common import parser, target, write_result
from tune_common import ROOT, environment, md_table, plan_study, rss_mib

sys.path.insert(0, str(ROOT / "tests"))
from pgserver import NoServer, throwaway_server

TINY = [
    "dataset=synthetic",
    "dataset.size=200",
    "model=mlp",
    "model.width=16",
    "model.depth=1",
    "trainer.epochs=1",
    "trainer.batch_size=32",
    "tuner=bayes",
    "pruner=median",
    "tuner.retrain_best=false",
    "tuner.plots=false",
    "search.optimizer.lr=tag(log, interval(1e-4, 1e-1))",
    "search.regularizer.dropout=interval(0.0, 0.5)",
    "search.model.width=int(interval(8, 64))",
]
FIT = "Keras fit"
# (module, attribute, label): the module attributes the worker loop looks up when it calls them
CLAIM = "claim (lock, recovery, counts, ask)"
PARTS = [
    ("kopt.tune.running.loop", "claim", CLAIM),
    ("optuna.study", "ask", "ask (sampler)"),
    ("kopt.tune.running.trial", "run_trial", "trial (config, data, model, run dir; fit apart)"),
    ("kopt.tune.running.loop", "finish", "tell"),
    ("kopt.tune.running.loop", "prune_models", "kept models"),
    ("kopt.tune.run", "write_progress", "trials.csv and summary.json"),
]
# once, when the study ends (after the last turn): (module, attribute, label)
AT_END = [
    ("kopt.tune.run", "finalize", "study end: finalize (summary, best.yaml, with what follows)"),
    ("kopt.tune.run", "draw_trial_curves", "study end: the trials' curves.png"),
    ("kopt.tune.run", "attach_trial_curves", "study end: curves.png as Optuna artifacts"),
    ("kopt.tune.results.page", "write_study_html", "study end: study.html"),
]
# where a label's time is inside another's: reported exclusive
INSIDE = {
    "claim (lock, recovery, counts, ask)": "ask (sampler)",
    "trial (config, data, model, run dir; fit apart)": FIT,
}


class Meter:
    """Per turn of the worker loop: its trial, its seconds, each part's, and RSS after it."""

    def __init__(self, fill=None):
        self.turns: list[dict] = []
        self.current: dict | None = None
        self.started = 0.0
        self.fill = fill  # (study) -> None: called before a claim, outside the turns' time
        self.end: collections.Counter = collections.Counter()  # seconds of each AT_END label
        self.fill_s = 0.0

    def close(self) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.current["turn_s"] = now - self.started
            self.current["rss_mib"] = rss_mib()
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the background study.html refreshes
            self.current["children_cpu_s"] = usage.ru_utime + usage.ru_stime
            self.turns.append(self.current)
        self.current = None

    def claim(self, fn):
        @functools.wraps(fn)
        def wrapper(study, *args, **kwargs):
            self.close()
            if self.fill is not None:
                start = time.perf_counter()
                self.fill(study)
                self.fill_s += time.perf_counter() - start
            self.current, self.started = collections.defaultdict(float), time.perf_counter()
            trial = fn(study, *args, **kwargs)
            self.current[CLAIM] += time.perf_counter() - self.started
            if trial is None or isinstance(trial, str):  # the study is done (or waits): no turn
                self.current = None
            else:
                self.current["number"] = trial.number
            return trial

        return wrapper

    def timed(self, label: str, fn, end: bool = False):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = self.end if end else self.current
                if spent is not None:
                    spent[label] += time.perf_counter() - start

        return wrapper


def install(meter: Meter) -> None:
    """Timers around the loop's parts, Keras' fit and the study's end."""
    import keras

    for module, attr, label in PARTS:
        owner = importlib.import_module(module)
        if attr == "ask":
            owner = owner.Study
        wrapped = meter.claim(getattr(owner, attr)) if label == CLAIM else meter.timed(label, getattr(owner, attr))
        setattr(owner, attr, wrapped)
    keras.Model.fit = meter.timed(FIT, keras.Model.fit)
    for module, attr, label in AT_END:
        owner = importlib.import_module(module)
        setattr(owner, attr, meter.timed(label, getattr(owner, attr), end=True))


def filler(study_dir: Path, real: list[tuple[int, int]], seed: int = 0):
    """Before a claim: while the study's next trial falls outside the ``real`` windows (1-based
    inclusive ranges), add finished trials like the last real one (its parameters' distributions,
    attributes and run dir files, a random value), so that the trials inside the windows run in a
    study that holds as many trials as a full run would."""
    import random

    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna.trial import create_trial

    rng = random.Random(seed)

    def draw(dist):
        if isinstance(dist, IntDistribution):
            return rng.randint(dist.low, dist.high)
        if isinstance(dist, FloatDistribution) and dist.log:
            return math.exp(rng.uniform(math.log(dist.low), math.log(dist.high)))
        return rng.uniform(dist.low, dist.high)

    def fill(study) -> None:
        trials = study.get_trials(deepcopy=False)
        nxt = len(trials) + 1
        if not trials or any(lo <= nxt <= hi for lo, hi in real) or nxt > real[-1][1]:
            return
        upto = min(lo for lo, _ in real if lo > nxt) - 1
        template = next(t for t in reversed(trials) if t.state.name == "COMPLETE")
        source = Path(template.user_attrs["run_dir"])
        for number in range(len(trials), upto):
            run_dir = study_dir / "trials" / str(number)
            shutil.copytree(source, run_dir, ignore=shutil.ignore_patterns("*.keras"), dirs_exist_ok=True)
            (run_dir / "curves.png").write_bytes(b"")  # (the study's end draws only the trained trials')
            value = rng.uniform(0.3, 0.9)
            study.add_trial(
                create_trial(
                    params={k: draw(d) for k, d in template.distributions.items()},
                    distributions=template.distributions,
                    value=value,
                    intermediate_values={1: value},
                    user_attrs={**template.user_attrs, "run_dir": str(run_dir.resolve())},
                )
            )

    return fill


def real_windows(trials: int) -> list[tuple[int, int]]:
    """The trials trained (1-based, inclusive) where the study is filled: the windows of the marks."""
    return [(max(1, at - half), at) if at == trials else (max(1, at - half), at + half) for at, half in spans(trials)]


def spans(trials: int) -> list[tuple[int, int]]:
    """(mark, half width): trials 10, 100, 1,000 (and the last, when fewer), medians over mark +- half."""
    marks = [m for m in (10, 100, 1000) if m <= trials]
    marks += [trials] if marks[-1] != trials else []
    return [(m, 5 if m <= 100 else 10) for m in marks]


def run_one(storage: str, trials: int, timeout: int | None, all_real: bool, out: Path) -> None:
    """One study on ``storage`` (journal, or a database URL) in this process; its turns to ``out``."""
    workdir = Path(tempfile.mkdtemp(prefix="kopt-growth-"))
    try:
        from kopt.runtime import setup_tensorflow

        setup_tensorflow(0)
        study_dir = workdir / "study"
        meter = Meter(None if all_real else filler(study_dir, real_windows(trials)))
        install(meter)
        from kopt.tune.run import run_study

        extra = [] if storage == "journal" else [f"tuner.storage={storage}"]
        extra += [f"tuner.timeout={timeout}"] if timeout else []
        plan = plan_study(workdir, [*TINY, f"tuner.n_trials={trials}", "tuner.study_name=growth", *extra])
        rss_start = rss_mib()
        start = time.perf_counter()
        run_study(plan, study_dir)
        wall = time.perf_counter() - start
        sizes = {p.name: p.stat().st_size for p in study_dir.iterdir() if p.is_file()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    doc = {
        "turns": meter.turns,
        "wall_s": wall,
        "rss_start_mib": rss_start,
        "files": sizes,
        "all_real": all_real,
        "fill_s": round(meter.fill_s, 1),
        "study_end_s": {k: round(v, 2) for k, v in meter.end.items()},
    }
    out.write_text(json.dumps(doc))


def own(turn: dict) -> float:
    return turn["turn_s"] - turn.get(FIT, 0.0)


def part_seconds(turn: dict, label: str) -> float:
    inner = INSIDE.get(label)
    return turn.get(label, 0.0) - (turn.get(inner, 0.0) if inner else 0.0)


def summarize(storage: str, doc: dict) -> dict:
    turns = doc["turns"]
    last = max(t["number"] for t in turns) + 1
    labels = [label for _, _, label in PARTS] + [FIT]
    points = {}
    for at, half in spans(last):
        lo, hi = max(1, at - half), min(last, at + half)
        w = [t for t in turns if lo <= t["number"] + 1 <= hi]  # (1-based, inclusive)
        points[at] = {
            "trials": [lo, hi],
            "turns": len(w),
            "own_s": statistics.median(own(t) for t in w),
            "fit_s": statistics.median(t.get(FIT, 0.0) for t in w),
            "rss_mib": statistics.median(t["rss_mib"] for t in w),
            "parts_s": {label: round(statistics.median(part_seconds(t, label) for t in w), 5) for label in labels},
        }
    first, final = min(points), max(points)
    return {
        "storage": storage,
        "trials": last,
        "trained_here": len(turns),
        "every_trial_trained": doc["all_real"],
        "wall_s": round(doc["wall_s"], 1),
        "rss_start_mib": round(doc["rss_start_mib"], 1),
        "rss_mib_per_trial": round((points[final]["rss_mib"] - points[first]["rss_mib"]) / (final - first), 4),
        "points": points,
        "own_ratio_last_first": round(points[final]["own_s"] / points[first]["own_s"], 3),
        # fit is the same work in every trial: own time in units of fit time cancels the machine's load
        "own_per_fit_ratio": round(
            (points[final]["own_s"] / points[final]["fit_s"]) / (points[first]["own_s"] / points[first]["fit_s"]), 3
        ),
        "marks": [first, final],
        "study_html_refresh_cpu_s": refreshes(turns),
        "fill_s": doc.get("fill_s"),
        "study_end_s": doc.get("study_end_s"),
        "study_files_bytes": doc["files"],
        "turns": [
            {"trial": t["number"] + 1, "own_s": round(own(t), 4), "rss_mib": round(t["rss_mib"], 1)} for t in turns
        ],
    }


def refreshes(turns: list[dict]) -> list[list]:
    """[trial, CPU seconds] of each background study.html refresh (kopt report), by when it ended."""
    out, last = [], 0.0
    for turn in turns:
        cpu = turn.get("children_cpu_s", 0.0)
        if cpu - last > 0.05:
            out.append([turn["number"] + 1, round(cpu - last, 2)])
        last = cpu
    return out


def run_child(storage: str, trials: int, timeout: int | None, all_real: bool, workdir: Path) -> dict:
    out = workdir / f"{storage.split(':')[0]}.json"
    cmd = [sys.executable, __file__, "--child", storage, "--trials", str(trials), "--child-out", str(out)]
    cmd += (["--timeout", str(timeout)] if timeout else []) + (["--every-trial"] if all_real else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{storage}: {proc.stderr[-2000:]}")
    return json.loads(out.read_text())


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--timeout", type=int, default=None, help="seconds per storage: no new trial after this")
    p.add_argument("--every-trial", action="store_true", help="train every trial (default: the windows' only)")
    p.add_argument("--storage", choices=["journal", "postgresql", "both"], default="both")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    trials = args.trials or (120 if args.quick else 1000)
    if args.child:
        run_one(args.child, trials, args.timeout, args.every_trial, args.child_out)
        return
    env = environment()
    storages = ["journal", "postgresql"] if args.storage == "both" else [args.storage]
    results, skipped = [], {}
    workdir = Path(tempfile.mkdtemp(prefix="kopt-growth-"))
    try:
        for storage in storages:
            with ExitStack() as stack:
                url = "journal"
                if storage == "postgresql":
                    try:
                        url = stack.enter_context(throwaway_server()).create_database()
                    except NoServer as exc:
                        skipped[storage] = str(exc)
                        continue
                results.append(summarize(storage, run_child(url, trials, args.timeout, args.every_trial, workdir)))
                print(
                    f"{storage}: {results[-1]['own_ratio_last_first']}x own time, "
                    f"{results[-1]['rss_mib_per_trial']} MiB/trial",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, trials, env, results, skipped)


def report(args, trials: int, env: dict, results: list[dict], skipped: dict) -> None:
    targets, rows, parts, header = [], [], {}, ["part, ms per trial (median)"]
    for r in results:
        ratio, mib, (first, last) = r["own_ratio_last_first"], r["rss_mib_per_trial"], r["marks"]
        name = f"{r['storage']}: own time per trial, trial {last} / trial {first}"
        targets.append(target(name, ratio, "<= 1.2", ratio <= 1.2))
        fit_name = f"{r['storage']}: the same, each in units of that window's fit time (load cancelled)"
        targets.append(target(fit_name, r["own_per_fit_ratio"], "(info)", None))
        targets.append(target(f"{r['storage']}: RSS growth per trial", mib, "<= 1", mib <= 1.0, unit="MiB/trial"))
        for p in r["points"].values():
            span = f"{p['trials'][0]}-{p['trials'][1]}"
            rows.append([r["storage"], span, p["own_s"] * 1000, p["fit_s"] * 1000, p["rss_mib"]])
            header.append(f"{r['storage']} {span}")
            for label, seconds in p["parts_s"].items():
                parts.setdefault(label, []).append(seconds * 1000)
    load = os.getloadavg()
    notes = (
        f"{trials} trials per storage, one epoch of a 16-unit MLP on 200 synthetic rows, TPE (tuner=bayes), "
        f"pruner=median; medians over windows of trials; load average at the end {load[0]:.1f} "
        f"(at the start {env['loadavg_at_start'][0]:.1f}) on {env['cpus']} cores.\n\n"
        + md_table(["storage", "trials", "kopt's own ms/trial", "fit ms/trial", "RSS MiB"], rows)
        + "\n\n"
        + md_table(header, [[label, *values] for label, values in parts.items()])
    )
    if skipped:
        notes += "\n\nNot measured: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
    extra = {"environment": env, "loadavg_at_end": list(load), "results": results, "skipped": skipped}
    write_result("study_growth", args.out, args.quick, targets, trials=trials, notes=notes, **extra)


if __name__ == "__main__":
    main()
