"""Terminal output with rich: a header, per-epoch progress and result tables.

When stdout is not a terminal (CI logs, pipes) everything degrades to plain lines.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)


def is_tty() -> bool:
    return console.is_terminal and sys.stdout.isatty()


def header(title: str, choices: dict[str, str] | None, run_dir: str | None = None) -> None:
    """The title line with the group choices (None: printed already), then the run dir."""
    if choices is not None:
        items = "  ".join(f"[bold]{k}[/]={v}" for k, v in choices.items())
        console.print(f"[bold cyan]{title}[/]  {items}")
    if run_dir:
        console.print(f"[dim]run dir: {run_dir}[/]")


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def train_table(summary: dict) -> Table:
    folds = summary.get("folds", [])
    table = Table(title=f"kopt train: {summary.get('status', '?')}", show_lines=False)
    for col in ("fold", "best epoch", "val_acc", "val_loss", "test_acc", "test_loss"):
        table.add_column(col, justify="right")
    for f in folds:
        table.add_row(str(f["fold"]), str(f["best_epoch"]), fmt(f.get("val_accuracy")), fmt(f.get("val_loss")),
                      fmt(f.get("test_accuracy")), fmt(f.get("test_loss")))
    m = summary.get("metrics", {})
    if len(folds) > 1:
        def pm(key):
            return f"{fmt(m.get(key))} ± {fmt(m.get(key + '_std'))}"

        table.add_row("mean", "", pm("val_accuracy"), pm("val_loss"), pm("test_accuracy"), pm("test_loss"), style="bold")
    table.caption = (f"params {summary.get('params', 0):,}  ·  time {summary.get('duration_s', 0):.1f}s  ·  "
                     f"run dir {summary.get('run_dir', '')}")
    return table
