"""``kopt report PATH... --html FILE``: one self-contained page for a run, a k-fold run, a sweep,
a study, or any set of runs. It opens offline: plotly.js, the styles, the data and the few lines
of script that sort the leaderboards are all inline.

- Runs: a sortable leaderboard (values to 4 significant digits, the best row marked, failed runs
  shown as such), the learning curves of every run and fold, and the group means with error bars.
- Each study among the paths: its trials' leaderboard (pruned and failed trials included), its
  retrain apart from the trials, Optuna's history, parallel coordinates, importances and, with
  several objectives, the Pareto front, and the learning curves of its trials.

A study dir is read without running anything: its summary.json and study.json, and the
Optuna storage named there.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from kopt.report.collect import RunRecord, varying_keys
from kopt.rundir import COMPLETED, STUDY_OWNER, SUMMARY, VAL_ACCURACY, atomic_write_text, read_json

PAGE_SCRIPT = """
document.querySelectorAll('table.board').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = th.getAttribute('data-order') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-order'); });
      th.setAttribute('data-order', asc ? 'asc' : 'desc');
      function key(row) {
        var cell = row.cells[col], v = cell.getAttribute('data-v');
        if (v === null || v === '') return null;
        var n = parseFloat(v);
        return isNaN(n) ? v : n;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null) return y === null ? 0 : 1;
        if (y === null) return -1;
        var c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""
STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table.board { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
table.board th { cursor: pointer; background: #f3f4f6; position: sticky; top: 0; user-select: none; }
table.board th[data-order=asc]::after { content: " \\25B2"; } table.board th[data-order=desc]::after { content: " \\25BC"; }
table.board td, table.board th { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
table.board td.text, table.board th.text { text-align: left; }
tr.best { background: #fff7d6; font-weight: 600; }
.state-failed, .state-fail, .state-died { color: #b91c1c; } .state-pruned { color: #92400e; }
.state-interrupted, .state-running { color: #1d4ed8; }
.box { background: #f8fafc; border: 1px solid #e5e7eb; padding: 8px 12px; display: inline-block; }
.note { color: #666; font-style: italic; } .chart { margin: 12px 0; }
"""


def round4(value) -> str:
    """A number to 4 significant digits (integers as they are); anything else as text."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.4g}"
    try:
        return round4(float(value)) if any(c.isdigit() for c in str(value)) and "." in str(value) else str(value)
    except ValueError:
        return str(value)


def board(columns: list[str], rows: list[dict], best: int | None, text: set[str]) -> str:
    """A leaderboard: ``rows`` of ``columns``; the row at ``best`` marked; a click on a header sorts."""
    head = "".join(f'<th class="{"text" if c in text else "num"}">{html.escape(c)}</th>' for c in columns)
    body = []
    for index, row in enumerate(rows):
        cells = []
        for c in columns:
            raw = row.get(c)
            shown = ("★ " if index == best and c == columns[0] else "") + round4(raw)
            state = f" state-{str(raw).lower()}" if c in ("status", "state") else ""
            sort_value = "" if raw is None else (raw if isinstance(raw, (int, float)) else str(raw))
            cells.append(
                f'<td class="{"text" if c in text else "num"}{state}" data-v="{html.escape(str(sort_value))}">'
                f"{html.escape(shown)}</td>"
            )
        body.append(f"<tr{' class=best' if index == best else ''}>{''.join(cells)}</tr>")
    return f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


class Page:
    """Sections of HTML, the figures among them rendered with plotly.js inlined once."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []
        self.charts = 0

    def add(self, text: str) -> None:
        self.parts.append(text)

    def heading(self, text: str) -> None:
        self.add(f"<h2>{html.escape(text)}</h2>")

    def note(self, text: str) -> None:
        self.add(f'<p class="note">{html.escape(text)}</p>')

    def figure(self, fig) -> None:
        inline = self.charts == 0  # plotly.js once, at the first chart
        self.charts += 1
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=inline,
            config={"displaylogo": False, "responsive": True},
            div_id=f"chart-{self.charts}",
        )
        self.add(f'<div class="chart">{div}</div>')

    def render(self) -> str:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>"
            f'<p class="note">written by kopt report at {stamp}</p>{"".join(self.parts)}'
            f"<script>{PAGE_SCRIPT}</script></body></html>\n"
        )


def _metric_columns(records: list[RunRecord]) -> list[str]:
    found = {k for r in records for k in r.metrics if not k.endswith("_std")}
    first = [k for k in (VAL_ACCURACY, "val_loss") if k in found]
    return first + sorted(found - set(first))


def _best_index(rows: list[dict], metric: str, maximize: bool, done) -> int | None:
    scored = [(i, r[metric]) for i, r in enumerate(rows) if done(r) and isinstance(r.get(metric), (int, float))]
    if not scored:
        return None
    return (max if maximize else min)(scored, key=lambda p: p[1])[0]


def runs_section(page: Page, records: list[RunRecord], group_keys: list[str] | None, label) -> None:
    keys = varying_keys(records)
    metrics = _metric_columns(records)
    columns = ["run", "status", *keys, *metrics, "params", "duration_s"]
    rows = []
    for rec in records:
        row = {"run": label(rec), "status": rec.status, "params": rec.params, "duration_s": rec.duration_s}
        row.update({k: rec.keys.get(k) for k in keys})
        row.update({m: rec.metrics.get(m) for m in metrics})
        rows.append(row)
    metric = metrics[0] if metrics else VAL_ACCURACY
    best = _best_index(rows, metric, "loss" not in metric, lambda r: r["status"] == COMPLETED)
    page.heading(f"Leaderboard: {len(records)} run(s)")
    if best is not None:
        page.note(f"★ marks the best {metric} among completed runs; click a header to sort.")
    page.add(board(columns, rows, best, {"run", "status", *keys}))
    from kopt.report.figures import curves_figure, groups_figure

    page.heading("Learning curves")
    page.figure(curves_figure([(label(r), r.curves()) for r in records], "Learning curves (per run and fold)"))
    if group_keys:
        from kopt.report.table import group_records

        bars = []
        for g in group_records(records, group_keys):
            mean, std = g.stat(metric)
            if mean is not None:
                bars.append((" ".join(str(v) for v in g.values) or "all runs", mean, std, len(g.done)))
        page.heading(f"Groups by {', '.join(group_keys)}")
        if bars:
            page.figure(groups_figure(bars, metric, f"{metric}: mean ± std over the runs of each group"))
        else:
            page.note("no group has a completed run")


def is_study_dir(path: Path) -> bool:
    return (path / "trials").is_dir() and (path / STUDY_OWNER).is_file()


def study_dirs(paths: list[str | Path]) -> list[Path]:
    """The study dirs at, in, or in the tune/ folder of ``paths``."""
    found: list[Path] = []
    for p in map(Path, paths):
        for c in [p, *sorted(p.glob("*")), *sorted(p.glob("tune/*"))]:
            if c.is_dir() and is_study_dir(c) and c.resolve() not in [f.resolve() for f in found]:
                found.append(c)
    return found


def study_section(page: Page, study_dir: Path, study) -> None:
    """The section of one study dir, read from ``study``: its Optuna study."""
    from kopt.report.figures import curves_figure, study_figures

    summary = read_json(study_dir / SUMMARY) if (study_dir / SUMMARY).is_file() else {}
    directions = [d.name.lower() for d in study.directions]
    metrics = list(study.metric_names or []) or [summary.get("metric") or VAL_ACCURACY]
    trials = study.get_trials(deepcopy=False)
    names = sorted({k for t in trials for k in t.params})
    value_cols = metrics if len(metrics) == len(directions) else [f"value {i}" for i in range(len(directions))]
    rows = []
    for t in trials:
        row = {"trial": t.number, "state": t.state.name.lower()}
        for i, col in enumerate(value_cols):
            row[col] = t.values[i] if t.values and t.state.name == "COMPLETE" else None
        row.update({n: t.params.get(n) for n in names})
        row["best_epoch"] = t.user_attrs.get("best_epoch")
        row["duration_s"] = t.user_attrs.get("duration_s")
        if t.user_attrs.get("duplicate_of") is not None:
            row["state"] = f"complete (= trial {t.user_attrs['duplicate_of']})"
        rows.append(row)
    best = None
    if len(directions) == 1:
        best = _best_index(rows, value_cols[0], directions[0] == "maximize", lambda r: r["state"] == "complete")
    page.heading(f"Study {study.study_name}: {len(trials)} trial(s)")
    counts = summary.get("counts") or {}
    facts = [
        f"objective: {', '.join(f'{m} ({d})' for m, d in zip(value_cols, directions))}",
        f"sampler: {summary.get('sampler', '?')}",
        f"pruner: {summary.get('pruner', '?')}",
        "trials: " + ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n),
    ]
    page.add('<div class="box">' + "<br>".join(html.escape(f) for f in facts) + "</div>")
    page.add(board(["trial", "state", *value_cols, *names, "best_epoch", "duration_s"], rows, best, {"state"}))
    retrain = summary.get("retrain")
    if isinstance(retrain, dict) and retrain:
        tested = {k: v for k, v in retrain.items() if k.startswith("test_")}
        page.heading(f"Retrain of trial {retrain.get('trial')} (on train+val; the only test score of the study)")
        page.add(
            '<div class="box">'
            + "<br>".join(
                html.escape(f"{k}: {round4(v)}") for k, v in [*tested.items(), ("epochs", retrain.get("epochs"))]
            )
            + "</div>"
        )
    for title, fig in study_figures(study, value_cols):
        page.heading(title)
        page.note(fig) if isinstance(fig, str) else page.figure(fig)
    series = []
    for t in trials:
        run_dir = study_dir / "trials" / str(t.number)
        if (run_dir / "metrics.jsonl").is_file():
            from kopt.rundir import read_metrics

            series.append((f"trial {t.number}", read_metrics(run_dir)))
    retrain_dir = study_dir / str(retrain.get("run_dir", "")) if isinstance(retrain, dict) else None
    if retrain_dir is not None and (retrain_dir / "metrics.jsonl").is_file():
        from kopt.rundir import read_metrics

        series.append((f"retrain (trial {retrain.get('trial')})", read_metrics(retrain_dir)))
    page.heading("Learning curves of the trials")
    if series:
        page.figure(curves_figure(series, "Learning curves (per trial and fold)"))
    else:
        page.note("no trial has written metrics yet")


def write_html(
    paths: list[str | Path],
    out: Path,
    records: list[RunRecord],
    group_keys: list[str] | None,
    open_study: Callable[[Path], Any],
) -> None:
    """The page for ``paths`` (the studies among them, then every run) written to ``out``. ``open_study``
    opens the Optuna study of a study dir without writing to it (the caller's: kopt.tune.store.storage's
    open_study_readonly; the report reads studies, the tune writes its page with the report's modules)."""
    studies = study_dirs(paths)
    inside = {s.resolve() for s in studies}
    loose = [r for r in records if not any(p in inside for p in r.path.resolve().parents)]
    title = f"kopt report: {', '.join(str(p) for p in paths)}"
    page = Page(title)
    for study_dir in studies:
        study_section(page, study_dir, open_study(study_dir))
    if loose or not studies:
        shown = loose or records
        base = Path(os.path.commonpath([str(r.path.resolve()) for r in shown]))
        base = base.parent if len(shown) == 1 else base

        def label(rec: RunRecord) -> str:
            return rec.name or rec.keys.get("name") or os.path.relpath(rec.path.resolve(), base)

        runs_section(page, shown, group_keys, label)
    atomic_write_text(out, page.render())
