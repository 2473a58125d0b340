"""What a study dir holds besides the storage and the trial run dirs: trials.csv, summary.json,
best.yaml (a Hydra primary config that ``kopt train`` reruns) and PNG plots."""

from __future__ import annotations

import csv
import io
import math
import sys
import weakref
from pathlib import Path

from kopt.rundir import SUMMARY, atomic_write_text, read_json, write_json_summary
from kopt.tune.planning.auto import auto_choices
from kopt.tune.planning.plan import TunePlan
from kopt.tune.trials.claim import state_counts
from kopt.tune.trials.dedup import DUPLICATE, discount_duplicates, duplicate_count, stop_reason
from kopt.tune.trials.keep import KEEP_MODELS, kept_trials

TRIALS_CSV = "trials.csv"
BEST_YAML = "best.yaml"
COLUMNS = (
    "number",
    "state",
    "value",
    "duration_s",
    "pruned_epoch",
    "best_epoch",
    "fail_reason",
    "run_dir",
    "retry_of",
    "duplicate_of",  # a repeated configuration: the trial whose result it reuses (not trained again)
)


def _fmt_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return "" if value is None else value


def trial_row(t) -> dict:
    attrs = t.user_attrs
    duration = attrs.get("duration_s")
    if duration is None and t.datetime_start and t.datetime_complete:
        duration = round((t.datetime_complete - t.datetime_start).total_seconds(), 3)
    value = (t.values or [None])[0] if t.state.name in ("COMPLETE", "PRUNED") else None  # several: the first
    return {
        "number": t.number,
        "state": t.state.name,
        "value": value,
        "duration_s": duration,
        "pruned_epoch": attrs.get("pruned_epoch"),
        "best_epoch": attrs.get("best_epoch"),
        "fail_reason": attrs.get("fail_reason"),
        "run_dir": attrs.get("run_dir"),
        "params": dict(t.params),
        "retry_of": (t.system_attrs.get("retry_history") or [attrs.get("retry_of")])[-1],
        "duplicate_of": attrs.get(DUPLICATE),
        "warm_start_from": attrs.get("warm_start_from"),  # (tuner.warm_start: copied, not trained here)
    }


FINISHED = ("COMPLETE", "PRUNED", "FAIL")  # a trial's row no longer changes
# per study object (this process): finished trials' rows {number: (frozen trial, row)}, and
# trials.csv's lines {"names": columns, number: (row, line)}
_ROWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cache(caches: weakref.WeakKeyDictionary, study) -> dict:
    try:
        return caches.setdefault(study, {}) if study is not None else {}
    except TypeError:  # (not weak-referenceable: no cache)
        return {}


def trial_rows(study) -> list[dict]:
    """trial_row of every trial of ``study``. A finished trial's row never changes: it is built once
    per process for the same stored trial (a study of 1,000 trials built 1,000 rows after every
    trial, twice). Callers must not change the rows."""
    cache = _cache(_ROWS, study)
    rows = []
    for t in study.get_trials(deepcopy=False):
        hit = cache.get(t.number)
        if hit is None or hit[0] is not t:
            hit = (t, trial_row(t))
            if t.state.name in FINISHED:
                cache[t.number] = hit
        rows.append(hit[1])
    return rows


def _csv_line(row: dict, names: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow([_fmt_value(row[c]) for c in COLUMNS] + [_fmt_value(row["params"].get(n)) for n in names])
    return buf.getvalue()


def write_trials_csv(study_dir: Path, rows: list[dict], plan: TunePlan, study=None) -> None:
    """trials.csv, rewritten whole (atomically; not fsynced: it is rebuilt from the storage after
    every trial, and the fsync grew with the file). With ``study`` (rows from :func:`trial_rows`),
    the lines of rows seen in the last call are reused: a trial formats its own line, not every
    trial's."""
    names = [p.name for p in plan.space.params]
    names += sorted({k for r in rows for k in r["params"]} - set(names))
    lines = _cache(_LINES, study)
    if lines.get("names") != names:  # a new parameter (a conditional space): every line again
        lines.clear()
        lines["names"] = names
    buf = io.StringIO()
    csv.writer(buf).writerow([*COLUMNS, *(f"params_{n}" for n in names)])
    parts = [buf.getvalue()]
    for r in rows:
        hit = lines.get(r["number"])
        if hit is None or hit[0] is not r:
            hit = lines[r["number"]] = (r, _csv_line(r, names))
        parts.append(hit[1])
    atomic_write_text(Path(study_dir) / TRIALS_CSV, "".join(parts), sync=False)


def study_summary(study, plan: TunePlan, storage: str, duration_s: float, extra: dict | None = None) -> dict:
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    from kopt.tune.results.pareto import best_of  # several objectives, constraints: see there

    best = best_of(study, plan) if complete else None
    return {
        "study_name": plan.study_name,
        "storage": storage,
        "metric": plan.metric,
        "direction": plan.direction,
        "best_value": best.values[0] if best else None,
        "best_params": dict(best.params) if best else None,
        "best_trial": best.number if best else None,
        "best_run_dir": best.user_attrs.get("run_dir") if best else None,
        "counts": discount_duplicates(state_counts(trials), trials),  # the trials that trained
        "stopped_early": stop_reason(plan, trials),  # fewer than n_trials trained, because of repeats
        "sampler": plan.tuner_name,
        "sampler_class": type(study.sampler).__name__,
        "pruner": plan.pruner_name,
        "pruner_class": type(study.pruner).__name__,
        **auto_choices(plan.tuner, plan.pruner),  # what tuner=auto / pruner=auto chose, and why
        "duplicates": duplicate_count(trials),  # sampled configs equal to a finished one: not trained again
        "n_trials": plan.n_trials,
        "grid_size": plan.grid_size,
        "search": plan.space.describe(),
        "duration_s": round(duration_s, 3),
        "trials_duration_s": round(sum(t.user_attrs.get("duration_s") or 0.0 for t in trials), 3),
        KEEP_MODELS: plan.tuner.get(KEEP_MODELS),
        "kept_models": kept_trials(study, plan.tuner),  # the trials whose model.keras is kept, best first
        **(extra or {}),
    }


def write_progress(study_dir: Path, study, plan: TunePlan, storage: str, duration_s: float, extra=None) -> dict:
    """trials.csv and summary.json, rewritten (atomically) after every trial."""
    write_trials_csv(study_dir, trial_rows(study), plan, study)
    summary = study_summary(study, plan, storage, duration_s, extra)
    previous = Path(study_dir) / SUMMARY
    if previous.exists():  # keep what the end of an earlier run added (retrain, plots)
        try:
            old = read_json(previous)
        except ValueError as exc:  # garbled (BadFile is a ValueError): rewritten whole below
            print(f"kopt: warning: {exc}; rewritten from the study", file=sys.stderr)
            old = {}
        old = old if isinstance(old, dict) else {}
        for key in ("test_accuracy", "test_loss", "retrain", "plots"):
            if key in old and key not in summary and old.get("best_trial") == summary["best_trial"]:
                summary[key] = old[key]
    write_json_summary(study_dir, summary)  # the study's own shape, not a run's Summary
    return summary


def write_plots(study_dir: Path, study, plan: TunePlan) -> dict[str, str]:
    """The study's PNG plots in plots/ (see kopt.tune.results.plots). Returns {file: "ok" or why not}."""
    from kopt.plotstyle import save
    from kopt.tune.results import plots

    trials = study.get_trials(deepcopy=False)
    figures = {
        "optimization_history.png": lambda: (plots.history_figure(trials, plan.metric, plan.direction), None),
        "param_importances.png": lambda: plots.importance_figure(study, trials, plan.metric),
        "parallel_coordinate.png": lambda: (plots.parallel_figure(trials, plan.metric, plan.direction), None),
    }
    if plan.pruner_name != "none":
        figures["intermediate_values.png"] = lambda: (plots.intermediate_figure(trials, plan.metric), None)
    done = {}
    out = Path(study_dir) / "plots"
    out.mkdir(exist_ok=True)
    for name, draw in figures.items():
        try:
            fig, why = draw()
            save(fig, out / name)  # a figure that says why, when there is nothing to show yet
            done[name] = f"skipped: {why}" if why else "ok"
        except Exception as exc:
            done[name] = f"skipped: {' '.join(str(exc).split())[:120]}"
    return done
