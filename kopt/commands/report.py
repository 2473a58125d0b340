"""``kopt report PATH...``: one table of many runs (run dirs, sweep dirs, study dirs, runs/).

No TensorFlow: it reads summary.json, .hydra/overrides.yaml and metrics.jsonl only.
"""

from __future__ import annotations

from pathlib import Path

from kopt.argparser import ArgumentParser
from kopt.errors import KoptError, RunFailed
from kopt.rundir.names import VAL_ACCURACY
from kopt.schemas.metrics import FOLD_SCORES


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="kopt report",
        description="Tabulate, group and plot runs. PATH may be a run dir, a sweep "
        "dir (runs/multirun/<ts>), a study dir (runs/tune/<study>) or runs/ itself (the default).",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="run dirs or folders holding run dirs (default: runs)")
    p.add_argument(
        "--group-by",
        metavar="KEYS",
        help="comma-separated keys, e.g. model,regularizer: mean ± std "
        "over the runs (seeds) of each group; 'auto' = every key that varies except seeds",
    )
    p.add_argument(
        "--sort",
        metavar="KEY[:asc|desc]",
        help="sort by a metric (val_accuracy, test_loss, ...), "
        "params, duration_s, status or an override key; accuracies sort best-first by default",
    )
    p.add_argument("--csv", metavar="FILE", help="write the table (the grouped one with --group-by) as CSV")
    p.add_argument("--markdown", metavar="FILE", help="write the table(s) as Markdown")
    p.add_argument(
        "--plot",
        metavar="FILE",
        nargs="?",
        const="report.png",
        help="write a comparison figure (PNG; default report.png): curves of the runs and a bar chart of the groups",
    )
    p.add_argument(
        "--html",
        metavar="FILE",
        help="write one self-contained page (opens offline): leaderboards, learning curves, group means, "
        "and each study's history, parallel coordinates, importances and Pareto front",
    )
    p.add_argument(
        "--wide",
        action="store_true",
        help="show every column at its full width; by default the table fits the terminal ($COLUMNS), "
        "leaving out the columns of least use (named below it)",
    )
    p.add_argument("--metric", default=VAL_ACCURACY, choices=FOLD_SCORES, help="metric of the --plot figure")
    p.add_argument("--status", metavar="STATUSES", help="only runs with these statuses, e.g. completed,failed")
    return p


def _keys(text: str | None) -> list[str]:
    return [k.strip() for k in (text or "").split(",") if k.strip()]


def _check_output(path: str, flag: str) -> Path:
    out = Path(path).expanduser()
    if out.is_dir():
        raise KoptError(f"{flag} {path}: is a folder; give a file name")
    if not out.parent.is_dir():
        raise KoptError(f"{flag} {path}: folder {out.parent} does not exist")
    return out


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    outputs = {
        flag: _check_output(value, flag)
        for flag, value in (
            ("--csv", args.csv),
            ("--markdown", args.markdown),
            ("--plot", args.plot),
            ("--html", args.html),
        )
        if value
    }
    if args.plot and outputs["--plot"].suffix.lower() != ".png":
        raise KoptError(f"--plot {args.plot}: the figure is a PNG; give a file name ending in .png")
    if args.html and outputs["--html"].suffix.lower() not in (".html", ".htm"):
        raise KoptError(f"--html {args.html}: the page is HTML; give a file name ending in .html")

    from kopt.console import console
    from kopt.report.collect import collect, varying_keys
    from kopt.report.table import (
        check_keys,
        constants_line,
        group_records,
        groups_markdown,
        groups_table,
        runs_markdown,
        runs_table,
        show,
        sort_groups,
        sort_records,
        split_keys,
        terminal_width,
        to_csv,
    )
    from kopt.rundir import atomic_write_text

    paths = args.paths or ["runs"]
    records = collect(paths)
    if args.status:
        wanted = set(_keys(args.status))
        records = [r for r in records if r.status in wanted]
        if not records:
            raise KoptError(f"--status {args.status}: no run has this status")
    columns = varying_keys(records)
    group_keys = None
    if args.group_by is not None:
        group_keys = varying_keys(records, include_seed=False) if args.group_by == "auto" else _keys(args.group_by)
        check_keys(records, group_keys, "--group-by")
        columns = list(dict.fromkeys(group_keys + columns))
    if args.sort:
        records = sort_records(records, args.sort)

    width = None if args.wide else terminal_width()
    shown, constant = split_keys(records, columns, keep=group_keys or [])
    if constant:  # equal in every run: once, above the table, not a column
        console.print(constants_line(constant, len(records)), width=width, soft_wrap=width is None, markup=False)
    best_metric = args.sort.partition(":")[0] if args.sort else None
    table = runs_table(
        records, shown, title=f"kopt report: {len(records)} run(s)", width=width, best_metric=best_metric
    )
    show(table, width, wide=args.wide)
    groups = None
    if group_keys is not None:
        groups = group_records(records, group_keys)
        if args.sort:
            groups = sort_groups(groups, args.sort, group_keys)
        show(groups_table(groups, group_keys, title=f"grouped by {', '.join(group_keys) or 'nothing'}"), wide=args.wide)
    from kopt.tune.results.pareto import show_fronts  # studies with several objectives: their Pareto fronts

    show_fronts(paths)
    not_done = [r for r in records if not r.completed]
    if not_done:
        counts = {}
        for r in not_done:
            counts[r.status] = counts.get(r.status, 0) + 1
        console.print(
            "[yellow]not completed:[/] "
            + ", ".join(f"{n} {s}" for s, n in counts.items())
            + " (shown above; left out of the group means)"
        )

    if args.csv:
        rows = [g.row(group_keys) for g in groups] if groups is not None else [r.row(columns) for r in records]
        _write(outputs["--csv"], lambda path: atomic_write_text(path, to_csv(rows)))
    if args.markdown:
        text = runs_markdown(records, columns)
        if groups is not None:
            text = groups_markdown(groups, group_keys) + "\n" + text
        _write(outputs["--markdown"], lambda path: atomic_write_text(path, text))
    if args.plot:
        _write(outputs["--plot"], lambda path: _plot(records, groups, group_keys, columns, path, args.metric))
    if args.html:
        from kopt.report.html import write_html
        from kopt.tune.store.storage import open_study_readonly

        _write(outputs["--html"], lambda path: write_html(paths, path, records, group_keys, open_study_readonly))


def _write(path: Path, write) -> None:
    """``write(path)``, atomic: a full disk (or a folder gone read-only) is one line, nothing half-written."""
    from kopt.console import console

    try:
        write(path)
    except OSError as exc:
        raise RunFailed(f"I/O error on {path}: {exc.strerror or exc}; nothing was written") from None
    console.print(f"wrote {path}")


def _plot(records, groups, group_keys, columns, path: Path, metric: str) -> None:
    from kopt.report.collect import varying_keys
    from kopt.report.plots import plot_comparison
    from kopt.report.table import group_records, labels

    names = labels(records)

    def run_label(rec) -> str:  # defaults by their value; keys the run does not have are left out
        parts = ((k, rec.value(k)) for k in columns)
        return " ".join(f"{k}={v}" for k, v in parts if v is not None) or names[rec.path]

    if groups is None:  # bars: by the keys that vary, seeds pooled
        group_keys = varying_keys(records, include_seed=False)
        groups = group_records(records, group_keys)

    def group_label(g) -> str:
        values = [v if v is not None else g.runs[0].value(k) for k, v in zip(group_keys, g.values)]
        return " ".join(str(v) for v in values if v is not None) or "all runs"

    bars = [(group_label(g), *g.stat(metric), len(g.done), len(g.runs) - len(g.done)) for g in groups if g.done]
    texts = [run_label(r) for r in records]
    texts = [
        f"{t} ({names[r.path]})" if texts.count(t) > 1 and t != names[r.path] else t  # tell them apart
        for t, r in zip(texts, records)
    ]
    curves = [(t, r.curves(), r.status) for t, r in zip(texts, records)]
    title = f"kopt report: {len(records)} run(s)" + (f", grouped by {', '.join(group_keys)}" if group_keys else "")
    plot_comparison(curves, bars, path, metric=metric, title=title, group_label=", ".join(group_keys) or "all runs")
