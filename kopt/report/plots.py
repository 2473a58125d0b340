"""PNG figures with matplotlib's Agg canvas (no display, no pyplot global state).

- ``curves.png`` of one run: loss and accuracy per epoch, train (solid) vs val (dashed), one colour per fold.
- the ``kopt report --plot`` comparison: val-accuracy curves of the runs (mean over folds) and a bar
  chart of grouped results with std error bars.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

from kopt.rundir import _atomic, read_metrics

CURVES_SIZE = (10, 4)  # inches
COMPARE_SIZE = (13, 5)
DPI = 100
CURVES = "curves.png"


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    _atomic(Path(path), lambda fh: fh.write(buf.getvalue()), mode="wb")
    return Path(path)


def _epoch_axis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _by_fold(rows: list[dict]) -> dict[int, list[dict]]:
    folds: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        folds[int(row.get("fold", 0))].append(row)
    return {k: sorted(v, key=lambda r: r["epoch"]) for k, v in sorted(folds.items())}


def plot_curves(run_dir: Path, title: str | None = None) -> Path | None:
    """Write ``curves.png`` from ``metrics.jsonl``; None when there is nothing to plot yet."""
    rows = read_metrics(run_dir)
    if not rows:
        return None
    folds = _by_fold(rows)
    fig = _figure(CURVES_SIZE)
    axes = fig.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(folds))]
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for (fold, fold_rows), color in zip(folds.items(), colors):
            label = f"fold {fold}" if len(folds) > 1 else ""
            epochs = [r["epoch"] for r in fold_rows]
            for prefix, style, part in (("", "-", "train"), ("val_", "--", "val")):
                values = [r.get(prefix + metric) for r in fold_rows]
                if any(v is not None for v in values):
                    ax.plot(epochs, [float("nan") if v is None else v for v in values], style, color=color,
                            marker="." if len(epochs) < 30 else None, label=f"{part} {label}".strip())
        ax.set_title(metric)
        _epoch_axis(ax)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center")
    fig.suptitle(title or f"training curves: {Path(run_dir).name}")
    fig.tight_layout()
    return _save(fig, Path(run_dir) / CURVES)


def mean_curve(rows: list[dict], metric: str) -> tuple[list[int], list[float]]:
    """Per epoch, the mean of ``metric`` over the folds that reached that epoch."""
    by_epoch: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        if row.get(metric) is not None:
            by_epoch[int(row["epoch"])].append(float(row[metric]))
    epochs = sorted(by_epoch)
    return epochs, [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]


def plot_comparison(curves: list[tuple[str, list[dict]]], bars: list[tuple[str, float | None, float | None]],
                    path: Path, metric: str = "val_accuracy", title: str = "kopt report", group_label: str = "group") -> Path:
    """``curves``: (label, metrics rows) per run; ``bars``: (group label, mean, std) per group."""
    fig = _figure(COMPARE_SIZE)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for label, rows in curves:
        epochs, values = mean_curve(rows, metric)
        if epochs:
            left.plot(epochs, values, marker="." if len(epochs) < 30 else None, label=label)
    left.set_title(f"{metric} per epoch (mean over folds)")
    _epoch_axis(left)
    left.set_ylabel(metric)
    left.grid(alpha=0.3)
    if curves and len(curves) <= 12:
        left.legend(fontsize="small")
    elif curves:
        left.text(0.99, 0.01, f"{len(curves)} runs (no legend above 12)", transform=left.transAxes,
                  ha="right", va="bottom", fontsize="small")
    names = [b[0] for b in bars]
    means = [b[1] if b[1] is not None else 0.0 for b in bars]
    stds = [b[2] if b[2] is not None else 0.0 for b in bars]
    xs = list(range(len(bars)))
    right.bar(xs, means, yerr=stds, capsize=4, color=[f"C{i % 10}" for i in xs])
    right.set_xticks(xs, names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center",
                     fontsize="small")
    right.set_title(f"final {metric} by group (mean ± std)")
    right.set_xlabel(group_label)
    right.set_ylabel(metric)
    right.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
