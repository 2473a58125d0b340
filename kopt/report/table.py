"""Tables of runs and of groups of runs (mean ± std), for the terminal, CSV and Markdown."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from kopt.console import fmt, round_numbers
from kopt.csvtext import to_csv  # noqa: F401 (kopt report --csv, sweep.csv)
from kopt.errors import KoptError
from kopt.report.collect import AVERAGED_KEY, METRIC_KEYS, RunRecord
from kopt.rundir import COMPLETED, DIED, FAILED, INTERRUPTED, RUNNING, TEST_ACCURACY, TEST_LOSS, VAL_ACCURACY, VAL_LOSS

SHORT = {VAL_ACCURACY: "val_acc", VAL_LOSS: "val_loss", TEST_ACCURACY: "test_acc", TEST_LOSS: "test_loss"}
STATUS_STYLE = {COMPLETED: "green", FAILED: "red", INTERRUPTED: "yellow", RUNNING: "cyan", DIED: "red"}
RUN_FIELDS = ("run", "status", "params", "duration_s", "folds", "started_at", "finished_at")
AVERAGED = "test_acc avg"  # the column of a run's folds averaged into one model
SCORES_NOTE = (
    "val_/test_ columns: mean ± std of a run's fold models; test_acc avg: the fold models averaged "
    "into one (their probabilities; what kopt predict and kopt export use)"
)


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def num(value: float | None) -> str:
    """A score: 4 decimals below 1 (0.8438, 0.0300), else 4 significant digits (2.056, 12.35)."""
    if value is None or not isinstance(value, float) or abs(value) < 1 or not math.isfinite(value):
        return fmt(value)
    return f"{value:.4g}"


def pm(mean: float | None, std: float | None, show=fmt) -> str:
    if mean is None:
        return "-"
    return show(mean) if std is None else f"{show(mean)} ± {show(std)}"


@dataclass
class Group:
    values: tuple[str | None, ...]
    runs: list[RunRecord]

    @property
    def done(self) -> list[RunRecord]:
        return [r for r in self.runs if r.completed]

    def stat(self, metric: str) -> tuple[float | None, float | None]:
        """Mean ± std over the group's completed runs (each run counts with its mean over folds).
        A group of one k-fold run shows that run's std across folds."""
        values = [r.metrics[metric] for r in self.done if metric in r.metrics]
        mean, std = mean_std(values)
        if len(values) == 1:
            std = self.done[0].metrics.get(metric + "_std")
        return mean, std

    def averaged(self) -> tuple[float | None, float | None]:
        """Mean ± std over the group's completed runs of each run's folds averaged into one model."""
        return mean_std([r.averaged_test_accuracy for r in self.done if r.averaged_test_accuracy is not None])

    def row(self, keys: list[str]) -> dict:
        out: dict = dict(zip(keys, self.values))
        out["runs"] = len(self.runs)
        out["completed"] = len(self.done)
        out["not_completed"] = len(self.runs) - len(self.done)
        for metric in METRIC_KEYS:
            out[metric + "_mean"], out[metric + "_std"] = self.stat(metric)
        out[AVERAGED_KEY + "_mean"], out[AVERAGED_KEY + "_std"] = self.averaged()
        durations = [r.duration_s for r in self.done if r.duration_s is not None]
        out["duration_s_mean"] = mean_std(durations)[0]
        return out


def check_keys(records: list[RunRecord], keys: list[str], flag: str) -> None:
    known = {k for r in records for k in r.keys}
    for key in keys:
        if key not in known:
            raise KoptError(f"{flag} {key}: no run has this key; allowed: {', '.join(sorted(known)) or 'none'}")


def group_records(records: list[RunRecord], keys: list[str]) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for rec in records:
        values = tuple(rec.keys.get(k) for k in keys)
        groups.setdefault(values, Group(values, [])).runs.append(rec)
    return list(groups.values())


def _sort_spec(spec: str) -> tuple[str, bool]:
    """'KEY', 'KEY:asc' or 'KEY:desc' -> (key, descending). By default the best comes first:
    accuracies descending, everything else ascending."""
    key, _, order = spec.partition(":")
    if order not in ("", "asc", "desc"):
        raise KoptError(f"--sort {spec}: order must be asc or desc (KEY:asc, KEY:desc)")
    return key, (order == "desc") if order else ("accuracy" in key)


def _number(value):
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _sorted(items: list, value_of, descending: bool) -> list:
    present = [i for i in items if value_of(i) is not None]
    missing = [i for i in items if value_of(i) is None]  # always last, whatever the order
    numeric = all(isinstance(value_of(i), float) for i in present)
    key = (lambda i: value_of(i)) if numeric else (lambda i: str(value_of(i)))
    return sorted(present, key=key, reverse=descending) + missing


def sort_records(records: list[RunRecord], spec: str) -> list[RunRecord]:
    key, descending = _sort_spec(spec)
    fields = set(METRIC_KEYS) | set(RUN_FIELDS) | {k for r in records for k in r.keys}
    if key not in fields:
        raise KoptError(f"--sort {key}: unknown key; allowed: {', '.join(sorted(fields))}")

    def value(rec: RunRecord):
        if key in METRIC_KEYS:
            return rec.metrics.get(key)
        if key in RUN_FIELDS:
            return _number(rec.row([])[key])
        return _number(rec.keys.get(key))

    return _sorted(records, value, descending)


def sort_groups(groups: list[Group], spec: str, keys: list[str]) -> list[Group]:
    key, descending = _sort_spec(spec)
    if key in METRIC_KEYS:
        return _sorted(groups, lambda g: g.stat(key)[0], descending)
    if key in keys:
        return _sorted(groups, lambda g: _number(g.values[keys.index(key)]), descending)
    return groups  # a per-run field: the groups keep their order


def labels(records: list[RunRecord]) -> dict[Path, str]:
    """Short run names: paths relative to the runs' common folder (or the cwd for a single run)."""
    paths = [r.path.resolve() for r in records]
    if len(paths) > 1:
        base = Path(os.path.commonpath(paths))
        return {r.path: str(p.relative_to(base)) for r, p in zip(records, paths)}
    try:
        return {records[0].path: str(paths[0].relative_to(Path.cwd()))}
    except ValueError:
        return {records[0].path: str(paths[0])}


def common_base(records: list[RunRecord]) -> str:
    paths = [r.path.resolve() for r in records]
    base = Path(os.path.commonpath(paths)) if len(paths) > 1 else paths[0]
    try:
        return str(base.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(base)


def show(table: Table, width: int | None = None, wide: bool = False) -> None:
    """Print a table: on a terminal within its width; off a terminal (logs, pipes) within ``width``
    where given, else at its natural width rather than cut to 80 columns; ``wide``: at its natural
    width everywhere (the terminal wraps its lines)."""
    from rich.measure import Measurement

    from kopt.console import PipeConsole, console, is_tty

    if not wide and is_tty():
        console.print(table)
        return
    if wide or width is None:
        width = max(console.width, Measurement.get(console, console.options.update(max_width=100_000), table).maximum)
    PipeConsole(width=width, highlight=False).print(table)


def terminal_width() -> int | None:
    """The width a table must fit: the terminal's, else $COLUMNS where set; None (no limit) for a
    pipe or a log without $COLUMNS."""
    from kopt.console import console, is_tty

    if is_tty():
        return console.width
    try:
        return max(int(os.environ.get("COLUMNS", "")), 20)
    except ValueError:
        return None


def split_keys(records: list[RunRecord], keys: list[str], keep: list[str] = ()) -> tuple[list[str], dict[str, str]]:
    """``keys`` (with the keys of every run) split into those whose value differs between the runs
    (columns) and those equal in all of them (printed once): each run's value, its override, group
    choice or composed config (a study's retrain has its parameters there). ``keep`` stay columns."""
    order = list(dict.fromkeys([*keep, *keys, *(k for r in records for k in r.keys)]))
    varying, constant = [], {}
    for key in order:
        values = {r.value(key) for r in records}
        if key in keep or len(values) > 1:
            varying.append(key)
        elif None not in values and len(records) > 1:
            constant[key] = values.pop()
    return varying, constant


def constants_line(constant: dict[str, str], n: int) -> str:
    return f"same in all {n} runs: " + "  ".join(f"{k}={round_numbers(v)}" for k, v in constant.items())


def best_record(records: list[RunRecord], metric: str | None = None) -> tuple[RunRecord | None, str | None]:
    """The best completed run by ``metric`` (by default val_accuracy, else test_accuracy): the
    highest accuracy, the lowest loss."""
    for key in [metric] if metric in METRIC_KEYS else [VAL_ACCURACY, TEST_ACCURACY]:
        done = [r for r in records if r.completed and r.metrics.get(key) is not None]
        if done:
            pick = min if "loss" in key else max
            return pick(done, key=lambda r: r.metrics[key]), key
    return None, None


def _header(key: str, compact: bool) -> str:
    """A key's column header; ``compact``: broken after its last dot (regularizer. / dropout)."""
    head, dot, tail = key.rpartition(".")
    return f"{head}.\n{tail}" if compact and dot and len(key) > 10 else key


def _build_runs_table(records, keys, title, best, compact) -> tuple[Table, list[str]]:
    names = labels(records)
    table = Table(title=title)
    columns = ["run", "status"]
    table.add_column("run", overflow="fold")
    table.add_column("status", no_wrap=True)
    lone = len(records) == 1 and not keys
    if lone:
        table.add_column("overrides", overflow="fold")
        columns.append("overrides")
    for key in keys:
        table.add_column(_header(key, compact), no_wrap=True)
        columns.append(key)
    for metric in METRIC_KEYS:
        table.add_column(SHORT[metric], justify="right", no_wrap=True)
        columns.append(metric)
    for name in (AVERAGED, "params", "time"):
        table.add_column(name, justify="right", no_wrap=True)
        columns.append(name)
    table.add_column("note", overflow="fold")
    columns.append("note")
    for rec in records:
        style = STATUS_STYLE.get(rec.status, "magenta")
        name = f"★ {names[rec.path]}" if rec is best else names[rec.path]
        values = (rec.value(k) for k in keys)  # a default or a retrain's parameter by its value
        cells = [name, f"[{style}]{rec.status}[/]", *(round_numbers(v) if v is not None else "-" for v in values)]
        if lone:
            cells.insert(2, " ".join(rec.overrides) or "-")
        cells += [pm(rec.metrics.get(m), rec.metrics.get(m + "_std"), num) for m in METRIC_KEYS]
        cells += [
            num(rec.averaged_test_accuracy),
            f"{rec.params:,}" if rec.params else "-",
            f"{rec.duration_s:.1f}s" if rec.duration_s is not None else "-",
            (rec.error or "")[:120],
        ]
        table.add_row(*cells, style="bold" if rec is best else None)
    return table, columns


def _drop_order(records: list[RunRecord], keys: list[str], columns: list[str], best_metric: str | None) -> list[str]:
    """The columns a narrow terminal loses, first to last: what is empty or repeated, then the
    details, then the parameters from the last; never the run, its status or the best's metric."""
    order = []
    if not any(r.error for r in records):
        order.append("note")
    if all(r.averaged_test_accuracy == r.metrics.get(TEST_ACCURACY) for r in records):
        order.append(AVERAGED)
    order += ["time", "params", AVERAGED, TEST_LOSS, VAL_LOSS, "note", "overrides", *keys[::-1]]
    order += [TEST_ACCURACY, VAL_ACCURACY]
    return [c for c in dict.fromkeys(order) if c in columns and c != best_metric]


def _min_width(table: Table) -> int:
    from rich.measure import Measurement

    from kopt.console import console

    return Measurement.get(console, console.options.update(max_width=100_000), table).minimum


def runs_table(
    records: list[RunRecord],
    keys: list[str],
    title: str = "runs",
    width: int | None = None,
    best_metric: str | None = None,
) -> Table:
    """One row per run; ``keys`` become columns (values rounded to 4 significant digits). A lone
    run shows its overrides instead. The best run (:func:`best_record`) is marked ★ and bold.
    Within ``width`` columns: keys' headers broken at their last dot, then the columns of least
    use left out (named in the caption; ``kopt report --wide`` shows every one)."""
    best, metric = best_record(records, best_metric)
    table, columns = _build_runs_table(records, keys, title, best, compact=False)
    dropped = []
    if width is not None and _min_width(table) > width:
        table, columns = _build_runs_table(records, keys, title, best, compact=True)
        for name in _drop_order(records, keys, columns, metric):
            if _min_width(table) <= width:
                break
            index = columns.index(name)
            del table.columns[index], columns[index]
            if name != "note" or any(r.error for r in records):
                dropped.append(SHORT.get(name, name))
    caption = f"{len(records)} runs under {common_base(records)}\n" if len(records) > 1 else ""
    if best is not None:
        caption += f"★ best {metric}\n"
    if dropped:
        caption += f"left out to fit {width} columns: {', '.join(dropped)} (kopt report --wide shows them)\n"
    table.caption = caption + SCORES_NOTE
    return table


def groups_table(groups: list[Group], keys: list[str], title: str = "grouped") -> Table:
    table = Table(title=title)
    for key in keys or ["all runs"]:
        table.add_column(key, no_wrap=True)
    table.add_column("runs", justify="right")
    for metric in METRIC_KEYS:
        table.add_column(SHORT[metric], justify="right", no_wrap=True)
    table.add_column(AVERAGED, justify="right", no_wrap=True)
    table.caption = "mean ± std over the completed runs of each group\n" + SCORES_NOTE
    for g in groups:
        failed = len(g.runs) - len(g.done)
        count = str(len(g.done)) + (f" [red](+{failed} not completed)[/]" if failed else "")
        table.add_row(
            *(v if v is not None else "-" for v in g.values or ("all",)),
            count,
            *(pm(*g.stat(m)) for m in METRIC_KEYS),
            pm(*g.averaged()),
        )
    return table


def to_markdown(header: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    out = [line(header), "|" + "|".join("---" for _ in header) + "|"]
    out.extend(line(r) for r in rows)
    return "\n".join(out) + "\n"


def runs_markdown(records: list[RunRecord], keys: list[str]) -> str:
    names = labels(records)
    header = ["run", "status", *keys, *(SHORT[m] for m in METRIC_KEYS), AVERAGED, "params", "time (s)", "note"]
    rows = [
        [
            names[r.path],
            r.status,
            *(r.keys.get(k, "-") for k in keys),
            *(pm(r.metrics.get(m), r.metrics.get(m + "_std")) for m in METRIC_KEYS),
            fmt(r.averaged_test_accuracy),
            r.params if r.params is not None else "-",
            f"{r.duration_s:.1f}" if r.duration_s is not None else "-",
            r.error or "",
        ]
        for r in records
    ]
    return to_markdown(header, rows)


def groups_markdown(groups: list[Group], keys: list[str]) -> str:
    header = [
        *(keys or ["all runs"]),
        "runs",
        "completed",
        *(SHORT[m] + " (mean ± std)" for m in METRIC_KEYS),
        AVERAGED + " (mean ± std)",
    ]
    rows = [
        [
            *(v if v is not None else "-" for v in g.values or ("all",)),
            len(g.runs),
            len(g.done),
            *(pm(*g.stat(m)) for m in METRIC_KEYS),
            pm(*g.averaged()),
        ]
        for g in groups
    ]
    return to_markdown(header, rows)
