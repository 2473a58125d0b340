"""A study's figures (``plots/`` in the study dir), drawn from its trials in kopt's house style
(:mod:`kopt.plotstyle`), with the study's metric on the value axis:

- ``optimization_history``: each trial's value by trial number, the best so far, pruned trials
  at their last reported value and failed trials (no value) on the x axis;
- ``intermediate_values``: the reported value per step of every trial, pruned ones ending in a
  triangle;
- ``parallel_coordinate``: one line per completed trial through its parameters to its value,
  coloured by value, the best drawn last (on top);
- ``param_importances``: Optuna's importances, once at least :data:`MIN_IMPORTANCE_TRIALS`
  trials have completed (the least its default evaluator takes; below that, a figure that says
  so), with the count in the title: few trials, rough importances.

Each function returns a matplotlib Figure; :func:`kopt.tune.results.report.write_plots` saves them.
"""

from __future__ import annotations

import math

from kopt.plotstyle import BEST, CMAP, STATES, figure, legend_outside, notice, state_of, style_axes
from kopt.rundir import COMPLETED, FAILED, PRUNED

MIN_IMPORTANCE_TRIALS = 2  # as optuna-dashboard: Optuna's evaluator gives equal shares below this
SIZE = (8, 5)


def _last_report(trial) -> float | None:
    steps = trial.intermediate_values
    return float(steps[max(steps)]) if steps else None


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


def history_figure(trials, metric: str, direction: str = "maximize"):
    fig = figure(SIZE)
    ax = fig.subplots()
    better = max if direction == "maximize" else min
    done = [t for t in trials if t.state.name == "COMPLETE" and _finite(t.value)]
    if done:
        style = STATES[COMPLETED]
        ax.plot(
            [t.number for t in done],
            [t.value for t in done],
            linestyle="none",
            marker=style["marker"],
            color=style["color"],
            label=style["label"],
        )
        best, xs, ys = None, [], []
        for t in done:
            best = t.value if best is None else better(best, t.value)
            xs.append(t.number)
            ys.append(best)
        ax.step(xs, ys, where="post", color=BEST, linewidth=1.5, label="best so far")
    pruned = [(t.number, _last_report(t)) for t in trials if t.state.name == "PRUNED"]
    pruned = [(n, v) for n, v in pruned if _finite(v)]
    if pruned:
        style = STATES[PRUNED]
        ax.plot(
            *zip(*pruned),
            linestyle="none",
            marker=style["marker"],
            color=style["color"],
            label="pruned (last reported)",
        )
    failed = [t.number for t in trials if t.state.name == "FAIL"]
    if failed:  # no value: on the x axis
        style = STATES[FAILED]
        ax.plot(
            failed,
            [0.0] * len(failed),
            linestyle="none",
            marker=style["marker"],
            color=style["color"],
            markersize=8,
            clip_on=False,
            transform=ax.get_xaxis_transform(),
            label="failed (no value)",
        )
    if not (done or pruned or failed):
        notice(ax, "no finished trial yet")
    style_axes(ax, title=f"optimization history ({direction} {metric})", xlabel="trial", ylabel=metric, integer_x=True)
    legend_outside(ax)
    return fig


def intermediate_figure(trials, metric: str):
    fig = figure(SIZE)
    ax = fig.subplots()
    drawn = 0
    for t in trials:
        if not t.intermediate_values:
            continue
        steps = sorted(t.intermediate_values)
        values = [t.intermediate_values[s] for s in steps]
        style = STATES[state_of(t.state.name)]
        ax.plot(steps, values, color=style["color"], alpha=0.6, linewidth=1.2)
        if t.state.name != "COMPLETE":
            ax.plot(steps[-1:], values[-1:], linestyle="none", marker=style["marker"], color=style["color"])
        drawn += 1
    if drawn:
        from matplotlib.lines import Line2D

        present = {state_of(t.state.name) for t in trials if t.intermediate_values}
        handles = [
            Line2D(
                [],
                [],
                color=STATES[s]["color"],
                marker=None if s == COMPLETED else STATES[s]["marker"],
                label=STATES[s]["label"],
            )
            for s in STATES
            if s in present
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    else:
        notice(ax, "no trial reported a value yet")
    style_axes(ax, title=f"intermediate values ({drawn} trials)", xlabel="step", ylabel=metric, integer_x=True)
    return fig


def _axis(dist, values: list) -> tuple[list[float], list[float], list[str]]:
    """Trial values of one parameter on a 0..1 axis (NaN where a trial lacks it: a gap in its
    line), and (positions, labels) of the axis' ticks."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        choices = list(dist.choices)
        span = max(len(choices) - 1, 1)
        pos = [math.nan if v not in choices else choices.index(v) / span if len(choices) > 1 else 0.5 for v in values]
        return pos, [i / span if len(choices) > 1 else 0.5 for i in range(len(choices))], [str(c) for c in choices]
    log = bool(getattr(dist, "log", False))
    lo, hi = float(dist.low), float(dist.high)
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    width = scale(hi) - scale(lo)
    pos = [math.nan if v is None else (scale(float(v)) - scale(lo)) / width if width else 0.5 for v in values]
    if not width:
        return pos, [0.5], [f"{lo:.3g}"]
    if isinstance(dist, IntDistribution) and not log and (hi - lo) / dist.step <= 8:  # every value
        ticks = [lo + i * dist.step for i in range(int((hi - lo) / dist.step) + 1)]
        return pos, [(v - lo) / width for v in ticks], [f"{v:g}" for v in ticks]
    return pos, [0.0, 1.0], [f"{lo:.3g}", f"{hi:.3g}"]


def parallel_figure(trials, metric: str, direction: str = "maximize"):
    """Completed trials only (pruned and failed ones have no value to colour by)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig = figure(SIZE)
    ax = fig.subplots()
    done = [t for t in trials if t.state.name == "COMPLETE" and _finite(t.value)]
    names = sorted({n for t in done for n in t.params})
    if not done or not names:
        notice(ax, "no completed trial with parameters yet")
        style_axes(ax, title="parallel coordinates")
        return fig
    # best last, drawn on top of the others (of equal values, the first: Optuna's best trial)
    sign = 1.0 if direction == "maximize" else -1.0
    done.sort(key=lambda t: (sign * t.value, -t.number))
    values = [float(t.value) for t in done]
    lo, hi = min(values), max(values)
    norm = Normalize(lo, hi if hi > lo else lo + 1e-12)
    cmap = colormaps[CMAP + "_r" if direction == "maximize" else CMAP]  # the best is always dark
    columns, ticks = [], []
    for name in names:
        dist = next(t.distributions[name] for t in done if name in t.distributions)
        pos, tick_pos, tick_text = _axis(dist, [t.params.get(name) for t in done])
        columns.append(pos)
        ticks.append((tick_pos, tick_text))
    span = (hi - lo) or 1.0
    columns.append([(v - lo) / span if hi > lo else 0.5 for v in values])
    ticks.append(([0.0, 1.0], [f"{lo:.4g}", f"{hi:.4g}"]) if hi > lo else ([0.5], [f"{lo:.4g}"]))
    xs = list(range(len(columns)))
    n = len(done)
    for i, t in enumerate(done):
        is_best = i == n - 1
        ax.plot(
            xs,
            [col[i] for col in columns],
            color=cmap(norm(values[i])),
            alpha=1.0 if is_best else 0.75,
            linewidth=2.6 if is_best else 1.4,
            zorder=2 + i,
            solid_capstyle="round",
            label=f"best: trial {t.number}" if is_best else None,
        )
    for x, (tick_pos, tick_text) in zip(xs, ticks):
        ax.axvline(x, color="0.3", linewidth=0.8, zorder=1)
        for p, text in zip(tick_pos, tick_text):
            ax.text(
                x + 0.04,
                p,
                text,
                fontsize=7,
                va="center",
                ha="left",
                color="0.2",
                zorder=n + 5,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5},
            )
    if len(xs) > 6:  # many axes: names upright, broken after their last dot, side by side
        upright = [n.rpartition(".")[0] + ".\n" + n.rpartition(".")[2] if "." in n else n for n in names]
        ax.set_xticks(xs, [*upright, metric], rotation=90, ha="center", fontsize=8)
    else:
        ax.set_xticks(xs, [*names, metric], rotation=20, ha="right", fontsize=8)
    ax.set_xlim(-0.1, len(columns) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    style_axes(ax, title=f"parallel coordinates ({n} completed trials)")
    ax.grid(False)
    ax.spines["left"].set_visible(False)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
    bar.set_label(metric, fontsize=8)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.06), frameon=False, fontsize="small")
    return fig


def importance_figure(study, trials, metric: str):
    """Returns (figure, None) or (figure with a notice, why) below MIN_IMPORTANCE_TRIALS completed trials."""
    fig = figure(SIZE)
    ax = fig.subplots()
    n = sum(t.state.name == "COMPLETE" for t in trials)
    if n < MIN_IMPORTANCE_TRIALS:
        why = f"needs at least {MIN_IMPORTANCE_TRIALS} completed trials, the study has {n}"
        notice(ax, f"parameter importances: {why}")
        return fig, why
    import optuna

    importances = optuna.importance.get_param_importances(study)
    names = list(importances)[::-1]  # the most important on top
    ax.barh(names, [importances[k] for k in names], color=STATES[COMPLETED]["color"])
    for y, name in enumerate(names):
        ax.text(importances[name], y, f" {importances[name]:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, max(importances.values(), default=0.0) * 1.15 or 1.0)  # room for the numbers
    style_axes(
        ax,
        title=f"parameter importances for {metric} ({n} completed trials)",
        xlabel=f"importance for {metric} (Optuna's default evaluator; they sum to 1)",
    )
    ax.grid(axis="y", visible=False)
    return fig, None
