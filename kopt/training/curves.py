"""``curves.png`` of one run: loss and accuracy per epoch, train (solid) vs val (dashed), one colour
per fold, in kopt's house style (:mod:`kopt.plotstyle`). :class:`kopt.training.tracking.Tracking` writes it
when a run ends; ``kopt report`` reuses the figure.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from kopt.plotstyle import figure, fit_ylim, legend_outside, notice, save, style_axes, title
from kopt.rundir import read_metrics

CURVES_SIZE = (10, 4)  # inches
CURVES = "curves.png"


def _by_fold(rows: list[dict]) -> dict[int, list[dict]]:
    folds: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        folds[int(row.get("fold", 0))].append(row)
    return {k: sorted(v, key=lambda r: r["epoch"]) for k, v in sorted(folds.items())}


def curves_figure(rows: list[dict], text: str):
    folds = _by_fold(rows)
    fig = figure(CURVES_SIZE)
    axes = fig.subplots(1, 2)
    colors = [f"C{i % 10}" for i in range(len(folds))]
    lone = max((len(r) for r in folds.values()), default=0) == 1  # one epoch: a marker on a sensible axis
    for ax, metric in zip(axes, ("loss", "accuracy")):
        drawn = []
        for (fold, fold_rows), color in zip(folds.items(), colors):
            label = f"fold {fold}" if len(folds) > 1 else ""
            epochs = [r["epoch"] for r in fold_rows]
            for prefix, style, part in (("", "-", "train"), ("val_", "--", "val")):
                values = [r.get(prefix + metric) for r in fold_rows]
                if any(v is not None for v in values):
                    drawn += values
                    ax.plot(
                        epochs,
                        [float("nan") if v is None else v for v in values],
                        style,
                        color=color,
                        marker=("o" if part == "train" else "D") if lone else "." if len(epochs) < 30 else None,
                        markersize=7 if lone else 6,
                        markerfacecolor="none" if lone and part == "val" else color,
                        label=f"{part} {label}".strip(),
                    )
        fit_ylim(ax, drawn, bounds=(0.0, 1.0) if metric == "accuracy" else None, lone=lone)
        style_axes(ax, title=metric, xlabel="epoch", ylabel=metric, integer_x=True)
        if not ax.get_legend_handles_labels()[0]:
            notice(ax, "no finite values")
    legend_outside(axes[-1])  # one legend for both, beside the plots
    title(fig, text)
    return fig


def plot_curves(run_dir: Path, title: str | None = None) -> Path | None:
    """Write ``curves.png`` from ``metrics.jsonl``; None when there is nothing to plot yet."""
    rows = read_metrics(run_dir)
    if not rows:
        return None
    fig = curves_figure(rows, title or f"training curves: {Path(run_dir).name}")
    return save(fig, Path(run_dir) / CURVES)


def curves_title(cfg, run_dir: Path) -> str:
    choices = "  ".join(
        f"{g}={cfg[g].get('name')}"
        for g in ("model", "regularizer", "optimizer", "dataset", "split")
        if cfg.get(g) is not None
    )
    path = Path(run_dir)
    name = f"{path.parent.name}/{path.name}" if path.name.isdigit() else path.name  # sweep job: <sweep>/<n>
    return f"{name}  ·  {choices}  ·  seed={cfg.get('seed')}"
