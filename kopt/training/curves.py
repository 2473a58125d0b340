"""``curves.png`` of one run: loss and accuracy per epoch, train (solid) vs val (dashed), one colour
per fold, in kopt's house style (:mod:`kopt.plotstyle`). :class:`kopt.training.tracking.Tracking` writes it
when a run ends; ``kopt report`` reuses the figure. :class:`CurvesDrawer` draws many runs' figures (a
study's trials, at its end) on one reused Figure, each layout computed once per shape.
"""

from __future__ import annotations

import re
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


def curves_figure(rows: list[dict], text: str, fig=None):
    """The figure of ``rows``; drawn on ``fig`` (cleared first) when one is given."""
    folds = _by_fold(rows)
    if fig is None:
        fig = figure(CURVES_SIZE)
    axes = _emptied(fig)
    if axes is None:
        fig.clear()
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


def _emptied(fig):
    """The two axes of a reused curves figure, their lines, texts and legend removed and their limits
    autoscaled again (their ticks, the costly part of new axes, kept); None when ``fig`` is new or its
    axes hold a notice (no ticks, no frame: drawn anew)."""
    axes = fig.axes
    if len(axes) != 2 or any(ax.texts or not ax.spines["left"].get_visible() for ax in axes):
        return None
    for ax in axes:
        for artist in [*ax.lines, *ax.texts]:
            artist.remove()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.relim()
        ax.set_autoscale_on(True)
        ax.set_prop_cycle(None)
    return axes


def plot_curves(run_dir: Path, title: str | None = None) -> Path | None:
    """Write ``curves.png`` from ``metrics.jsonl``; None when there is nothing to plot yet."""
    rows = read_metrics(run_dir)
    if not rows:
        return None
    fig = curves_figure(rows, title or f"training curves: {Path(run_dir).name}")
    return save(fig, Path(run_dir) / CURVES)


class CurvesDrawer:
    """``curves.png`` of many runs, drawn on one Figure and Agg canvas reused from run to run.

    Matplotlib's constrained layout costs about as much as drawing the figure itself, and its
    result depends only on the figure's *shape*: the title's line count and characters, the
    legend's labels, a notice in place of a plot, the tick labels' digit patterns (DejaVu's digits
    share one width) and the offset texts. The first figure of each shape is laid out by
    constrained layout, and its axes' and title's positions are kept; a later figure of the same
    shape gets them without the layout pass (nor savefig's dry draw for it), so each file is what
    :func:`plot_curves` writes, pixel for pixel. The axes and their ticks are reused too (new ones
    cost a fifth of a figure): only lines, texts and legend are replaced."""

    def __init__(self) -> None:
        self.fig = None
        self.layouts: dict[tuple, tuple] = {}

    def plot(self, run_dir: Path, title: str | None = None) -> Path | None:
        """Like :func:`plot_curves`: ``curves.png`` of ``run_dir``, None when it has no metrics yet."""
        rows = read_metrics(run_dir)
        if not rows:
            return None
        if self.fig is None:
            self.fig = figure(CURVES_SIZE)
        fig = curves_figure(rows, title or f"training curves: {Path(run_dir).name}", fig=self.fig)
        key = _shape(fig)
        layout = self.layouts.get(key)
        if layout is None:
            fig.set_layout_engine("constrained")
            for ax in fig.axes:  # constrained layout starts where a new figure's would (its result depends on it)
                ax._set_position(ax.get_subplotspec().get_position(fig))
        else:
            fig.set_layout_engine(None)  # no engine at all: savefig skips its dry draw for the layout
            if fig.get_layout_engine() is not None:  # (rcParams name a default engine)
                fig.set_layout_engine("none")
            boxes, (position, va) = layout
            for ax, box in zip(fig.axes, boxes):
                ax._set_position(box)  # (set_position would take the axes out of a later layout)
            fig._suptitle.set_position(position)
            fig._suptitle.set_verticalalignment(va)
        png = save(fig, Path(run_dir) / CURVES)
        if layout is None:
            self.layouts[key] = (
                [ax.get_position(original=True).frozen() for ax in fig.axes],
                (fig._suptitle.get_position(), fig._suptitle.get_verticalalignment()),
            )
        return png


def _shape(fig) -> tuple:
    """What constrained layout's result depends on in a :func:`curves_figure` (see :class:`CurvesDrawer`)."""
    digits = re.compile(r"\d")
    text = fig._suptitle.get_text() if fig._suptitle is not None else ""
    key: list = [text.count("\n"), "".join(sorted(set(digits.sub("0", text))))]  # lines; glyphs (their heights)
    for ax in fig.axes:
        legend = ax.get_legend()
        key.append(tuple(t.get_text() for t in legend.get_texts()) if legend is not None else None)
        key.append(tuple(t.get_text() for t in ax.texts))
        for axis in (ax.xaxis, ax.yaxis):
            locs = axis.get_majorticklocs()
            formatter = axis.get_major_formatter()
            labels = formatter.format_ticks(locs)
            key.append(tuple(sorted({digits.sub("0", t) for t in labels})))
            key.append(digits.sub("0", formatter.get_offset()) if hasattr(formatter, "get_offset") else "")
    return tuple(key)


def curves_title(cfg, run_dir: Path) -> str:
    choices = "  ".join(
        f"{g}={cfg[g].get('name')}"
        for g in ("model", "regularizer", "optimizer", "dataset", "split")
        if cfg.get(g) is not None
    )
    path = Path(run_dir)
    name = f"{path.parent.name}/{path.name}" if path.name.isdigit() else path.name  # sweep job: <sweep>/<n>
    return f"{name}  ·  {choices}  ·  seed={cfg.get('seed')}"
