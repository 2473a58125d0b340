"""A study with several objectives (``tuner.objectives``): its Pareto front, the member that
``tuner.pick`` chooses, and what the study dir gets for them:

- ``pareto.csv``: the front, one row per member (trial, each objective, the other measures,
  the parameters);
- ``pareto.png``: every completed trial, accuracy (the first validation objective) against
  size (the first other objective), the front highlighted and the trials numbered;
- ``pareto/trial_<n>.yaml``: one rerunnable config per member
  (``kopt train --config-dir runs/tune/<study>/pareto --config-name trial_<n>``).

A trial is on the front when it completed, kept every constraint, and no other such trial is
at least as good on every objective and better on one (Optuna's ``Study.best_trials``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from kopt.tune.planning.objectives import MEASURES, MEASURES_ATTR, VAL_METRICS, broken, objectives_of, parse_pick

PARETO_CSV = "pareto.csv"
PARETO_PNG = "pareto.png"
PARETO_DIR = "pareto"


def measures(t) -> dict:
    """A trial's measures; its objective values fill in what an older trial did not record."""
    out = dict(t.user_attrs.get(MEASURES_ATTR) or {})
    return out


def feasible(t) -> bool:
    """Completed, and within every constraint (Optuna's constraint values, <= 0)."""
    return t.state.name == "COMPLETE" and all(c <= 0 for c in t.constraints.values())


def _objectives(plan) -> list[tuple[str, str]]:
    return objectives_of(plan.tuner) or [(plan.metric, plan.direction)]


def front(study) -> list:
    """Optuna's Pareto front (``Study.best_trials``: feasible completed trials that no other beats on
    every objective), by trial number; without repeats (kopt.tune.trials.dedup: a repeated configuration has
    its original's values, so Optuna lists both)."""
    from kopt.tune.trials.dedup import DUPLICATE

    return sorted((t for t in study.best_trials if DUPLICATE not in t.user_attrs), key=lambda t: t.number)


def picked(trials, plan):
    """The trial that ``tuner.pick`` chooses among the feasible completed ones, or None."""
    rule = parse_pick(plan.tuner.get("pick"))
    if rule is None:
        return None
    direction, measure, bounds = rule
    pool = [
        t
        for t in trials
        if feasible(t)
        and measure in measures(t)
        and not broken(bounds, measures(t))
        and all(b.measure in measures(t) for b in bounds)
    ]
    if not pool:
        return None
    sign = 1.0 if direction == "maximize" else -1.0
    return max(pool, key=lambda t: (sign * float(measures(t)[measure]), -t.number))


def best_of(study, plan):
    """The study's "best" trial (best.yaml, the first retrain, summary.json's best_*): Optuna's best
    for one objective without constraints; else the best feasible trial on the first objective,
    or with several objectives the ``tuner.pick`` trial when one is picked, else the front member
    best on the first objective. None when there is none."""
    if not objectives_of(plan.tuner):
        try:
            return study.best_trial  # (the best feasible one, with constraints)
        except ValueError:  # no feasible trial
            return None
    choice = picked(study.get_trials(deepcopy=False), plan)
    if choice is not None:
        return choice
    first = 1.0 if _objectives(plan)[0][1] == "maximize" else -1.0
    members = front(study)
    return max(members, key=lambda t: (first * t.values[0], -t.number)) if members else None


# -- the study dir's files ---------------------------------------------------------------------


def write_csv(study_dir: Path, members: list, plan) -> None:
    from kopt.rundir import atomic_write_text

    names = [n for n, _ in _objectives(plan)]
    others = [m for m in MEASURES if m not in names and any(m in measures(t) for t in members)]
    params = sorted({k for t in members for k in t.params})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["trial", *names, *others, "run_dir", *(f"params_{p}" for p in params)])
    for t in members:
        ms = measures(t)
        values = [ms.get(n, v) for n, v in zip(names, t.values)]  # params and flops as the integers they are
        writer.writerow(
            [
                t.number,
                *values,
                *(ms.get(m, "") for m in others),
                t.user_attrs.get("run_dir", ""),
                *(t.params.get(p, "") for p in params),
            ]
        )
    atomic_write_text(Path(study_dir) / PARETO_CSV, buf.getvalue())


def axes_of(plan) -> tuple[str, str]:
    """(x, y) of pareto.png: y the first validation objective (accuracy), x the first other one (size)."""
    names = [n for n, _ in _objectives(plan)]
    y = next((n for n in names if n in VAL_METRICS), names[0])
    x = next((n for n in names if n != y), y)
    return x, y


def figure_of(trials, members: list, plan):
    from kopt.plotstyle import BEST, figure, legend_outside, notice, style_axes

    x_name, y_name = axes_of(plan)
    fig = figure((7.5, 4.8))
    ax = fig.add_subplot()
    done = [
        t for t in trials if t.state.name == "COMPLETE" and x_name in _values(t, plan) and y_name in _values(t, plan)
    ]
    if not done:
        notice(ax, "no completed trial yet")
        return fig
    on = {t.number for t in members}

    def draw(group, **style):
        if group:
            ax.plot(
                [_values(t, plan)[x_name] for t in group],
                [_values(t, plan)[y_name] for t in group],
                linestyle="none",
                **style,
            )

    draw([t for t in done if t.number not in on and feasible(t)], marker="o", color="0.6", label="trial")
    draw([t for t in done if not feasible(t)], marker="x", color="tab:red", label="infeasible")
    ordered = sorted(members, key=lambda t: _values(t, plan)[x_name])
    if ordered:
        ax.plot(
            [_values(t, plan)[x_name] for t in ordered],
            [_values(t, plan)[y_name] for t in ordered],
            marker="o",
            color=BEST,
            linewidth=1.5,
            markersize=7,
            drawstyle="steps-post",
            label="Pareto front",
        )
    for t in done:
        ax.annotate(
            f"#{t.number}",
            (_values(t, plan)[x_name], _values(t, plan)[y_name]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
            fontweight="bold" if t.number in on else "normal",
        )
    xs = [float(_values(t, plan)[x_name]) for t in done]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    style_axes(ax, title=f"Pareto front: {len(members)} of {len(done)} completed trials", xlabel=x_name, ylabel=y_name)
    legend_outside(ax, below=True)
    return fig


def _values(t, plan) -> dict:
    """Measures, and the objective values Optuna holds (they agree; the latter exist for every trial)."""
    out = measures(t)
    if t.values:
        out.update(zip([n for n, _ in _objectives(plan)], t.values))
    return out


def write_yamls(study_dir: Path, members: list, plan) -> list[str]:
    """pareto/trial_<n>.yaml for each member; files of trials no longer on the front are removed."""
    from kopt.paths import config_groups
    from kopt.tune.results.best import MARKER, write_best_yaml

    folder = Path(study_dir) / PARETO_DIR
    folder.mkdir(exist_ok=True)
    keep = {f"trial_{t.number}.yaml" for t in members}
    for old in folder.glob("trial_*.yaml"):
        if old.name not in keep and old.read_text().startswith(MARKER):
            old.unlink()
    groups = config_groups()
    return [
        str(write_best_yaml(folder, plan, t, groups, stem=f"trial_{t.number}").relative_to(study_dir)) for t in members
    ]


def finish(study, plan, study_dir: Path, best) -> dict:
    """After the search (several objectives): pareto.csv, pareto.png, pareto/*.yaml, and the retrain
    of the other front members unless ``tuner.pick`` chose one (``best`` is retrained already).
    Returns summary.json's ``pareto`` entry."""
    from kopt.console import console
    from kopt.errors import RunFailed
    from kopt.plotstyle import save

    if not objectives_of(plan.tuner):
        return {}
    trials = study.get_trials(deepcopy=False)
    members = front(study)
    write_csv(study_dir, members, plan)
    out: dict = {
        "objectives": [f"{n}:{d[:3]}" for n, d in _objectives(plan)],
        "front": [t.number for t in members],
        "csv": PARETO_CSV,
        "configs": write_yamls(study_dir, members, plan),
    }
    if plan.tuner.get("pick"):
        out["pick"] = {"rule": plan.tuner["pick"], "trial": getattr(picked(trials, plan), "number", None)}
    try:
        save(figure_of(trials, members, plan), Path(study_dir) / PARETO_PNG)
        out["png"] = PARETO_PNG
    except Exception as exc:
        out["png"] = f"skipped: {' '.join(str(exc).split())[:120]}"
    console.print(
        f"Pareto front ({', '.join(out['objectives'])}): trials {out['front']} -> {PARETO_CSV}, "
        f"{PARETO_PNG}, {PARETO_DIR}/"
    )
    if plan.tuner.get("retrain_best", True) and not plan.tuner.get("pick"):
        from kopt.tune.results.retrain import retrain_best

        out["retrain"] = []
        for t in members:
            if best is not None and t.number == best.number:
                continue
            console.print(f"[dim]retraining front member {t.number} on train+val ...[/]")
            try:
                out["retrain"].append(retrain_best(plan, t, study_dir))
            except RunFailed as exc:
                out["retrain"].append({"trial": t.number, "error": str(exc)})
    return out


# -- kopt report ---------------------------------------------------------------------------------


def study_dirs_with_front(paths) -> list[Path]:
    """The study dirs among ``paths`` (or in them: runs/, runs/tune/) that hold a pareto.csv."""
    found: list[Path] = []
    for p in map(Path, paths):
        candidates = (
            [p / PARETO_CSV]
            if (p / PARETO_CSV).is_file()
            else [*sorted(p.glob(f"*/{PARETO_CSV}")), *sorted(p.glob(f"tune/*/{PARETO_CSV}"))]
        )
        found += [c.parent for c in candidates if c.parent not in found]
    return found


def front_table(study_dir: Path):
    """A rich table of a study's pareto.csv, with each member's retrained test accuracy when it has one."""
    from rich.table import Table

    from kopt.rundir import SUMMARY, read_json

    with open(Path(study_dir) / PARETO_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    tested: dict[str, object] = {}
    try:
        summary = read_json(Path(study_dir) / SUMMARY)
        for r in [summary.get("retrain") or {}, *((summary.get("pareto") or {}).get("retrain") or [])]:
            if isinstance(r, dict) and r.get("test_accuracy") is not None:
                tested[str(r.get("trial"))] = r["test_accuracy"]
    except (OSError, ValueError, AttributeError):
        summary = {}
    columns = [c for c in (rows[0].keys() if rows else ["trial"]) if c != "run_dir"]
    table = Table(title=f"Pareto front of {Path(study_dir).name}: {len(rows)} trial(s)")
    for c in [*columns, "test_accuracy"]:
        table.add_column(c.removeprefix("params_"), justify="right")
    for r in rows:
        cells = [_cell(r[c]) for c in columns]
        value = tested.get(r["trial"])
        table.add_row(*cells, "" if value is None else f"{float(value):.4f}")
    return table


def _cell(text: str) -> str:
    for kind, shown in ((int, "{:,}"), (float, "{:.4g}")):
        try:
            return shown.format(kind(text))
        except ValueError:
            continue
    return text


def show_fronts(paths) -> None:
    from kopt.report.table import show

    for folder in study_dirs_with_front(paths):
        show(front_table(folder))
