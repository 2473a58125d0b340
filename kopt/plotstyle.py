"""kopt's one plot style. Every PNG kopt writes (``curves.png``, ``report.png``, a study's
``plots/*.png``) is drawn on a :func:`figure`, its axes finished by :func:`style_axes`, and
written by :func:`save`: matplotlib's Agg canvas, no pyplot global state, no display.

Run states keep one look everywhere (:data:`STATES`): completed runs are solid, pruned ones
orange triangles, failed ones red crosses.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from kopt.console import round_numbers
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
_CHAR_WIDTH = 0.55  # a character's mean width, in units of the font size


def chars_in(inches: float, fontsize: float = FONT) -> int:
    """About how many characters of ``fontsize`` fit in ``inches``."""
    return max(4, int(inches * 72 / (fontsize * _CHAR_WIDTH)))


def wrap(text: str, width: int, max_lines: int | None = None) -> str:
    """``text`` rounded and wrapped at spaces to lines of at most ``width`` characters (a longer
    word is broken), cut to ``max_lines`` with an ellipsis."""
    lines = []
    for part in round_numbers(text).split("\n"):
        lines += textwrap.wrap(part, width, break_on_hyphens=False) or [""]
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(width - 1, 1)] + "…"
    return "\n".join(lines)


def title(fig, text: str, fontsize: float = FONT + 2) -> None:
    """The figure's title, rounded and wrapped to the figure's width."""
    fig.suptitle(wrap(text, chars_in(fig.get_size_inches()[0] * 0.95, fontsize)), fontsize=fontsize)


def fit_ylim(ax, values: list, bounds: tuple[float, float] | None = None, lone: bool = False) -> None:
    """A y axis of sensible range for one epoch (``lone``) or values that barely differ: at least
    ±0.05 around them, or the whole of ``bounds`` (0..1 for an accuracy) for a lone epoch."""
    import math

    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return
    lo, hi = min(finite), max(finite)
    if lone and bounds is not None and bounds[0] <= lo and hi <= bounds[1]:
        ax.set_ylim(*bounds)
    elif lone or hi - lo < 1e-3:
        half = max(0.05, 0.05 * max(abs(lo), abs(hi)))
        middle = (lo + hi) / 2
        ax.set_ylim(middle - half, middle + half)


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
    columns), so it never covers a line; above ``max_entries`` a count instead. Labels are rounded
    and wrapped: to a short column beside the axes, or to the axes' width below them, the figure
    made taller by the legend's height so that the axes keep theirs."""
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
    fig = ax.figure
    fontsize = FONT - 1
    if below:
        fig_w, fig_h = fig.get_size_inches()
        room = chars_in(ax.get_position().width * fig_w * 0.9, fontsize)
        ncol = 2 if len(handles) >= 4 and max(len(round_numbers(t)) for t in labels) <= room // 2 - 4 else 1
        labels = [wrap(t, room // ncol - 4) for t in labels]
        lines = [t.count("\n") + 1 for t in labels]
        rows = [max(lines[i : i + ncol]) for i in range(0, len(lines), ncol)]
        extra = sum(n * 1.25 + 0.5 for n in rows) * fontsize / 72 + 0.3  # inches
        fig.set_size_inches(fig_w, fig_h + extra)
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(0.0, -0.14),
            borderaxespad=0.0,
            ncol=ncol,
            fontsize=FONT - 1,
            frameon=False,
        )
    else:
        ax.legend(
            handles,
            [wrap(t, 28, max_lines=3) for t in labels],
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


# zlib's level for kopt's PNGs: 1, not Pillow's 6. The same pixels in a file ~12% larger (curves.png: 47 to
# 53 KB), written in 0.13 CPU s instead of 0.17: a quarter of the cost of drawing a run's curves.png.
PNG_COMPRESS_LEVEL = 1


def save(fig, path: Path, compress_level: int = PNG_COMPRESS_LEVEL) -> Path:
    """The PNG, written atomically; ``compress_level`` (zlib's 0-9) trades file size for time."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": compress_level})
    _atomic(Path(path), lambda fh: fh.write(buf.getvalue()), mode="wb")
    return Path(path)
