"""Report figures in kopt's house style (:mod:`kopt.plotstyle`):

- ``curves.png`` of one run is drawn by :mod:`kopt.training.curves` (a run writes it when it ends);
- the ``kopt report --plot`` comparison: the runs' curves of one metric (mean over folds; runs that
  did not complete are dotted and end in their state's marker) and a bar chart of the groups'
  completed runs (mean ± std).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from kopt.plotstyle import DPI, FONT, STATES, chars_in, figure, legend_outside, save, state_of, style_axes, wrap
from kopt.plotstyle import title as fig_title
from kopt.rundir import COMPLETED, VAL_ACCURACY
from kopt.training.curves import CURVES, CURVES_SIZE, curves_figure, plot_curves

COMPARE_SIZE = (13, 5)  # inches
__all__ = [
    "CURVES",
    "CURVES_SIZE",
    "COMPARE_SIZE",
    "DPI",
    "plot_curves",
    "curves_figure",
    "plot_comparison",
    "comparison_figure",
    "mean_curve",
]


def mean_curve(rows: list[dict], metric: str) -> tuple[list[int], list[float]]:
    """Per epoch, the mean of ``metric`` over the folds that reached that epoch."""
    by_epoch: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        if row.get(metric) is not None:
            by_epoch[int(row["epoch"])].append(float(row[metric]))
    epochs = sorted(by_epoch)
    return epochs, [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]


def comparison_figure(
    curves: list[tuple],
    bars: list[tuple],
    metric: str = VAL_ACCURACY,
    title: str = "kopt report",
    group_label: str = "group",
):
    """``curves``: (label, metrics rows[, status]) per run; ``bars``: (group label, mean, std[, runs
    completed, runs not completed]) per group, over its completed runs."""
    fig = figure(COMPARE_SIZE)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for i, (label, rows, *rest) in enumerate(curves):
        state = state_of(rest[0] if rest else COMPLETED)
        epochs, values = mean_curve(rows, metric)
        if not epochs:
            continue
        color = f"C{i % 10}"
        if state == COMPLETED:
            left.plot(epochs, values, color=color, marker="." if len(epochs) < 30 else None, label=label)
        else:
            left.plot(
                epochs,
                values,
                ":",
                color=color,
                label=f"{label} ({state})",
                marker=STATES[state]["marker"],
                markevery=[len(epochs) - 1],
                markersize=9,
                markeredgecolor=STATES[state]["color"],
            )
    style_axes(left, title=f"{metric} per epoch (mean over folds)", xlabel="epoch", ylabel=metric, integer_x=True)
    legend_outside(left, below=True)
    names = [b[0] if len(b) < 5 else f"{b[0]}\nn={b[3]}" + (f" (+{b[4]} not completed)" if b[4] else "") for b in bars]
    means = [b[1] if b[1] is not None else 0.0 for b in bars]
    stds = [b[2] if b[2] is not None else 0.0 for b in bars]
    xs = list(range(len(bars)))
    right.bar(xs, means, yerr=stds, capsize=4, color=[f"C{i % 10}" for i in xs])
    # each label within its bar's width, wrapped; too many bars for that: upright, one line each
    width = COMPARE_SIZE[0] * 2 / 5 * 0.8 / max(len(xs), 1)
    per_bar = chars_in(width, FONT - 1)
    if per_bar >= 8:
        right.set_xticks(xs, [wrap(n, per_bar - 1, max_lines=5) for n in names], fontsize=FONT - 1)
    else:
        right.set_xticks(
            xs, [wrap(n.replace("\n", " "), 30, max_lines=1) for n in names], rotation=90, fontsize=FONT - 1
        )
    style_axes(right, title=f"final {metric} by group (mean ± std)", xlabel=wrap(group_label, 60), ylabel=metric)
    right.grid(False, axis="x")
    fig_title(fig, title)
    return fig


def plot_comparison(
    curves: list[tuple],
    bars: list[tuple],
    path: Path,
    metric: str = VAL_ACCURACY,
    title: str = "kopt report",
    group_label: str = "group",
) -> Path:
    return save(comparison_figure(curves, bars, metric, title, group_label), path)
