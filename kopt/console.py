"""Terminal output with rich: a header, per-epoch progress and result tables.

When stdout is not a terminal (CI logs, pipes) everything degrades to plain lines. Every line
printed also goes to the log (the run dir's train.log, the study's tune.log) as plain text,
through the ``kopt.console`` logger; live bars are not logged, their epoch and trial lines are.
"""

from __future__ import annotations

import io
import logging
import re
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

CONSOLE_LOG = logging.getLogger("kopt.console")


class PipeConsole(Console):
    """rich's Console, but a closed stdout stops the command as kopt.errors.stdout_closed says
    (exit 141, a run marked interrupted) instead of rich's ``SystemExit(1)``."""

    def on_broken_pipe(self) -> None:
        from kopt.errors import stdout_closed

        self.quiet = True
        stdout_closed()


class KoptConsole(PipeConsole):
    """rich's Console, plus: text and tables printed are logged as plain lines, and ``prefix``
    (e.g. ``[job 3] `` for the parallel jobs of a sweep) starts every line on the terminal."""

    prefix = ""

    def print(self, *objects, **kwargs) -> None:
        if self.prefix and objects:
            with self.capture() as captured:
                super().print(*objects, **kwargs)
            try:
                self.file.write("".join(self.prefix + line for line in captured.get().splitlines(keepends=True)))
                self.file.flush()
            except BrokenPipeError:
                self.on_broken_pipe()
        else:
            super().print(*objects, **kwargs)
        if objects and all(isinstance(o, (str, Text, Table)) for o in objects):  # not live displays' controls
            log_lines(*objects)


console = KoptConsole(highlight=False, soft_wrap=True)


def plain(*objects) -> str:
    """What ``console.print(*objects)`` shows, as plain text (markup applied, no ANSI codes)."""
    out = Console(file=io.StringIO(), color_system=None, width=120, highlight=False, soft_wrap=True)
    out.print(*objects)
    return out.file.getvalue()


def log_lines(*objects) -> None:
    """Write ``objects`` as plain lines to the log files (the root logger's file handlers: Hydra's
    job logging, kopt ab, resume). Only to files: a stream handler (Hydra's own, in the process
    that runs a sweep) would print every line a second time."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    if not files:
        return
    for line in plain(*objects).splitlines():
        if line.strip():
            record = CONSOLE_LOG.makeRecord(CONSOLE_LOG.name, logging.INFO, __file__, 0, line.rstrip(), None, None)
            for handler in files:
                if record.levelno >= handler.level:
                    handler.handle(record)


class LogFormatter(logging.Formatter):
    """The log files' format: console lines as printed, other records with time, logger and level."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == CONSOLE_LOG.name:
            return record.getMessage()
        return super().format(record)


def is_tty() -> bool:
    """Live displays only on a terminal, and never for parallel jobs sharing one."""
    return console.is_terminal and sys.stdout.isatty() and not console.prefix


def eta(seconds: float | None) -> str:
    """``eta 1m05s`` (empty when unknown)."""
    if seconds is None or seconds != seconds:
        return ""
    seconds = max(0, round(seconds))
    return f"eta {seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"eta {seconds}s"


def header(title: str, choices: dict[str, str], run_dir: str | None = None, titled: bool = False) -> None:
    """The title line with the group choices (``titled``: printed already, only logged now), then the run dir."""
    items = "  ".join(f"[bold]{k}[/]={v}" for k, v in choices.items())
    (log_lines if titled else console.print)(f"[bold cyan]{title}[/]  {items}")
    if run_dir:
        console.print(f"[dim]run dir: {run_dir}[/]")


DIGITS = 4  # significant digits of a number in a table cell, a label, a legend or a tick
_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d+(?:[eE][-+]?\d+)?(?![\w.])")


def round_numbers(text, digits: int = DIGITS) -> str:
    """``text`` with each decimal number in it rounded to ``digits`` significant digits
    (``dropout=0.21879360563134626`` -> ``dropout=0.2188``); whole numbers and names are kept."""
    return _FLOAT.sub(lambda m: f"{float(m.group()):.{digits}g}", str(text))


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def train_table(summary: dict) -> Table:
    """A run's folds, then for k folds its two test scores, named: the mean of the fold models
    (± their std) and the folds averaged into one model (what kopt predict and export use)."""
    from kopt.rundir.names import FOLD_METRICS, FOLDS_AVERAGED, folds_averaged, mean_of_folds

    folds = summary.get("folds", [])
    title = f"kopt train: {summary.get('status', '?')}"
    # trainer.metrics beyond accuracy and loss (val_auc, test_mae, ...); a run without accuracy (a
    # regression) shows no accuracy columns
    extra = [
        k
        for k in dict.fromkeys(k for f in folds for k in f)
        if k.startswith(("val_", "test_")) and k not in FOLD_METRICS and not k.endswith("_tta")
    ]
    shown = [k for k in FOLD_METRICS if "accuracy" not in k or not folds or any(k in f for f in folds)]
    keys = sorted([*shown, *extra], key=lambda k: (not k.startswith("val_"), k not in FOLD_METRICS))
    rows = [[str(f["fold"]), str(f["best_epoch"]), *(fmt(f.get(key)) for key in keys)] for f in folds]
    m = summary.get("metrics", {})
    named = 0  # the bold rows: the mean of the fold models, the folds averaged into one model
    if len(folds) > 1:

        def pm(key):
            return f"{fmt(m.get(key))} ± {fmt(m.get(key + '_std'))}"

        rows.append([mean_of_folds(len(folds)), "", *(pm(key) for key in keys)])
        averaged = summary.get(FOLDS_AVERAGED)
        if isinstance(averaged, dict):
            rows.append(
                [
                    folds_averaged(len(folds)),
                    "",
                    *(fmt(averaged.get(key)) if key.startswith("test_") else "" for key in keys),
                ]
            )
        named = len(rows) - len(folds)
    table = _fitted(title, ("fold", "best epoch", *(k.replace("accuracy", "acc") for k in keys)), rows, named)
    table.caption = (
        f"params {summary.get('params', 0):,}  ·  time {summary.get('duration_s', 0):.1f}s  ·  "
        f"run dir {summary.get('run_dir', '')}"
    )
    if m.get("test_accuracy_tta") is not None:  # trainer.tta
        table.caption += f"  ·  test_acc with TTA {fmt(m['test_accuracy_tta'])}"
    return table


def _fitted(title: str, columns: tuple[str, ...], rows: list[list[str]], named: int) -> Table:
    """The train table for this terminal: as rich lays it out where that shows every cell whole; in a
    narrower one, columns of fixed widths where the labels wrap, the "x ± y" cells break at their spaces
    and, if need be, the headers at their underscores ("val loss"), so that no number is cut (rich's own
    squeezing cut them to "8.30…", or dropped the last column). Narrower still: rich's layout."""
    import io

    from rich.console import Console

    def table(labels, widths=None) -> Table:
        drawn = Table(title=title, show_lines=False)
        for i, label in enumerate(labels):
            drawn.add_column(label, justify="right", width=widths[i] if widths else None)
        for i, row in enumerate(rows):
            drawn.add_row(*row, style="bold" if i >= len(rows) - named else None)
        return drawn

    natural = table(columns)
    trial = Console(width=console.width, file=io.StringIO(), color_system=None)
    with trial.capture() as out:
        trial.print(natural)
    top = next((line for line in out.get().splitlines() if line.lstrip().startswith("┏")), "")
    if "…" not in out.get() and top.count("┳") == len(columns) - 1 and top.rstrip().endswith("┓"):
        return natural

    def longest(texts) -> int:
        return max((len(word) for text in texts for word in text.split()), default=1)

    for labels in (columns, tuple(c.replace("_", " ") for c in columns)):
        widths = [max(longest(row[i] for row in rows), longest([label])) for i, label in enumerate(labels)]
        if sum(widths) + 3 * len(widths) + 1 <= console.width:  # (each column: a border, a space each side)
            return table(labels, widths)
    return natural


def progress_bar(*extra_columns, **kwargs):
    """kopt's progress bar (a run's epochs, a study's trials): description, bar, n/total, the task's
    ``stats`` field, elapsed, eta, then ``extra_columns``; ``kwargs`` go to rich's Progress."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *(TextColumn(column) for column in extra_columns),
        **kwargs,
    )
