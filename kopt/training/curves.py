"""``curves.png`` of one run: loss and accuracy per epoch, train (solid) vs val (dashed), one colour
per fold, in kopt's house style (:mod:`kopt.plotstyle`). :class:`kopt.tracking.Tracking` writes it
when a run ends; ``kopt report`` reuses the figure.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from kopt.plotstyle import FONT, figure, legend_outside, notice, save, style_axes
from kopt.rundir import read_metrics

CURVES_SIZE = (10, 4)  # inches
CURVES = "curves.png"


def _by_fold(rows: list[dict]) -> dict[int, list[dict]]:
    folds: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        folds[int(row.get("fold", 0))].append(row)
    return {k: sorted(v, key=lambda r: r["epoch"]) for k, v in sorted(folds.items())}


def curves_figure(rows: list[dict], title: str):
    folds = _by_fold(rows)
    fig = figure(CURVES_SIZE)
    axes = fig.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(folds))]
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for (fold, fold_rows), color in zip(folds.items(), colors):
            label = f"fold {fold}" if len(folds) > 1 else ""
            epochs = [r["epoch"] for r in fold_rows]
            for prefix, style, part in (("", "-", "train"), ("val_", "--", "val")):
                values = [r.get(prefix + metric) for r in fold_rows]
                if any(v is not None for v in values):
                    ax.plot(
                        epochs,
                        [float("nan") if v is None else v for v in values],
                        style,
                        color=color,
                        marker="." if len(epochs) < 30 else None,
                        label=f"{part} {label}".strip(),
                    )
        style_axes(ax, title=metric, xlabel="epoch", ylabel=metric, integer_x=True)
        if not ax.get_legend_handles_labels()[0]:
            notice(ax, "no finite values")
    legend_outside(axes[-1])  # one legend for both, beside the plots
    fig.suptitle(title, fontsize=FONT + 2)
    return fig


def plot_curves(run_dir: Path, title: str | None = None) -> Path | None:
    """Write ``curves.png`` from ``metrics.jsonl``; None when there is nothing to plot yet."""
    rows = read_metrics(run_dir)
    if not rows:
        return None
    fig = curves_figure(rows, title or f"training curves: {Path(run_dir).name}")
    return save(fig, Path(run_dir) / CURVES)
