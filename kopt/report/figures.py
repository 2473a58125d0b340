"""The plotly figures of ``kopt report --html``: learning curves, group means with error bars,
and a study's own charts from Optuna's visualisation module (history, parallel coordinates,
importances, Pareto front). No chart is drawn by hand here: each is a plotly figure, so the page
gets zoom, pan and hover from plotly itself.

plotly is imported inside the functions: ``kopt report`` without ``--html`` never loads it.
"""

from __future__ import annotations

import warnings

from kopt.rundir import VAL_ACCURACY, VAL_LOSS

CURVE_METRICS = (VAL_ACCURACY, VAL_LOSS)
HEIGHT = 420
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")  # the folds of one run: one colour, one dash each


def _layout(fig, title: str):
    fig.update_layout(
        title=title,
        height=HEIGHT,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "v", "x": 1.02, "y": 1, "xanchor": "left"},
        hovermode="closest",
    )
    return fig


def curves_figure(series: list[tuple[str, list[dict]]], title: str):
    """One line per (name, metrics.jsonl rows) and fold, for val_accuracy (left) and val_loss
    (right); a single epoch is drawn as a marker, as a line of one point would be invisible."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=CURVE_METRICS, horizontal_spacing=0.08)
    palette = _palette(len(series))
    for index, (name, rows) in enumerate(series):
        folds = sorted({r.get("fold", 0) for r in rows})
        for fold in folds:
            mine = [r for r in rows if r.get("fold", 0) == fold and isinstance(r.get("epoch"), int)]
            label = name if len(folds) == 1 else f"{name} · fold {fold}"
            for col, metric in enumerate(CURVE_METRICS, start=1):
                points = [(r["epoch"], r[metric]) for r in mine if isinstance(r.get(metric), (int, float))]
                if not points:
                    continue
                fig.add_trace(
                    go.Scatter(
                        x=[p[0] for p in points],
                        y=[p[1] for p in points],
                        mode="lines+markers" if len(points) > 1 else "markers",
                        name=label,
                        legendgroup=label,
                        showlegend=col == 1,
                        line={"color": palette[index], "dash": DASHES[folds.index(fold) % len(DASHES)]},
                        marker={"size": 6 if len(points) > 1 else 10},
                        hovertemplate=f"{label}<br>epoch %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="epoch", dtick=1 if _max_epoch(series) <= 12 else None)
    return _layout(fig, title)


def _max_epoch(series) -> int:
    return max((r.get("epoch", 0) for _, rows in series for r in rows if isinstance(r.get("epoch"), int)), default=0)


def _palette(n: int) -> list[str]:
    import plotly.express as px

    colors = px.colors.qualitative.Plotly + px.colors.qualitative.Dark24
    return [colors[i % len(colors)] for i in range(max(n, 1))]


def groups_figure(bars: list[tuple[str, float, float | None, int]], metric: str, title: str):
    """Bars of the groups' means, with the standard deviation over their runs as error bars."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Bar(
            x=[b[0] for b in bars],
            y=[b[1] for b in bars],
            error_y={"type": "data", "array": [b[2] or 0.0 for b in bars], "visible": True},
            customdata=[[b[3]] for b in bars],
            hovertemplate=f"%{{x}}<br>{metric} %{{y:.4g}} ± %{{error_y.array:.2g}}<br>%{{customdata[0]}} run(s)"
            "<extra></extra>",
        )
    )
    fig.update_yaxes(title_text=metric)
    return _layout(fig, title)


def study_figures(study, metric_names: list[str]) -> list[tuple[str, object | str]]:
    """(title, figure or the reason it is missing) for a study: Optuna's own plots."""
    import optuna.visualization as vis

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    several = len(study.directions) > 1
    target = None if several else metric_names[0]
    out: list[tuple[str, object | str]] = []

    def add(title: str, build, needs: int = 1, why: str = ""):
        if len(complete) < needs:
            out.append((title, why or f"needs {needs} completed trial(s); the study has {len(complete)}"))
            return
        try:
            with (
                warnings.catch_warnings()
            ):  # Optuna's notes (experimental API, the evaluator's target) are not the user's
                warnings.simplefilter("ignore")
                fig = build()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # Optuna's refusal, e.g. one value only
            out.append((title, f"not drawn: {exc}"))
            return
        out.append((title, _layout(fig, title)))

    def named(fn):  # with several objectives, the first one's values (Optuna needs a target then)
        if several:
            return fn(study, target=lambda t: t.values[0], target_name=metric_names[0])
        return fn(study, target_name=target)

    if several:
        add("Pareto front", lambda: vis.plot_pareto_front(study, target_names=metric_names))
    add("Optimisation history", lambda: named(vis.plot_optimization_history))
    add("Parallel coordinates", lambda: named(vis.plot_parallel_coordinate))
    add(
        f"Parameter importances ({len(complete)} completed trials)",
        lambda: named(vis.plot_param_importances),
        needs=2,
        why="Optuna's importance evaluator needs at least 2 completed trials",
    )
    return out
