"""kopt's one plot style. Every PNG kopt writes (``curves.png``, ``report.png``, a study's
``plots/*.png``) is drawn on a :func:`figure`, its axes finished by :func:`style_axes`, and
written by :func:`save`: matplotlib's Agg canvas, no pyplot global state, no display.

Run states keep one look everywhere (:data:`STATES`): completed runs are solid, pruned ones
orange triangles, failed ones red crosses.
"""

from __future__ import annotations

import io
from pathlib import Path

from kopt.rundir import COMPLETED, FAILED, INTERRUPTED, PRUNED, _atomic

DPI = 100
FONT = 9
BEST = "#1a7f37"  # the best value so far / the best trial
STATES = {  # marker and colour of a run's (or trial's) outcome, in every plot
    COMPLETED: {"color": "#1f77b4", "marker": "o", "label": COMPLETED},
    PRUNED: {"color": "#ff7f0e", "marker": "v", "label": PRUNED},
    FAILED: {"color": "#d62728", "marker": "x", "label": FAILED},
    INTERRUPTED: {"color": "#7f7f7f", "marker": "s", "label": INTERRUPTED},
}
CMAP = "viridis"


def state_of(status: str | None) -> str:
    """A run status or an Optuna state name as one of :data:`STATES` (running/unknown count as interrupted)."""
    name = str(status or "").lower()
    name = {"complete": COMPLETED, "fail": FAILED}.get(name, name)
    return name if name in STATES else INTERRUPTED


def figure(size: tuple[float, float], **kwargs):
    """A Figure on an Agg canvas, laid out by matplotlib's constrained layout (legends placed
    outside the axes get their room)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def style_axes(
    ax, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None, integer_x: bool = False
) -> None:
    """Light grid, no top/right frame, kopt's font sizes; ``integer_x`` puts ticks on whole numbers
    only (epochs, steps, trial numbers)."""
    from matplotlib.ticker import MaxNLocator

    if title is not None:
        ax.set_title(title, fontsize=FONT + 1)
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=FONT)
    if ylabel is not None:
        ax.set_ylabel(ylabel, fontsize=FONT)
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.tick_params(labelsize=FONT - 1)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def legend_outside(ax, max_entries: int = 12, below: bool = False) -> None:
    """The axes' legend outside the plotted area (to its right, or ``below`` it in up to two
    columns), so it never covers a line; above ``max_entries`` a count instead."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    if len(handles) > max_entries:
        ax.text(
            0.99,
            0.01,
            f"{len(handles)} lines (no legend above {max_entries})",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=FONT - 1,
        )
        return
    if below:
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(0.0, -0.14),
            borderaxespad=0.0,
            ncol=1 if len(handles) < 4 else 2,
            fontsize=FONT - 1,
            frameon=False,
        )
    else:
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            fontsize=FONT - 1,
            frameon=False,
        )


def notice(ax, text: str) -> None:
    """A message in place of a plot (nothing to draw yet)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=FONT + 1, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def save(fig, path: Path) -> Path:
    """The PNG, written atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    _atomic(Path(path), lambda fh: fh.write(buf.getvalue()), mode="wb")
    return Path(path)
